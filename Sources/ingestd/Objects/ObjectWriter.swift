import Crypto
import Foundation
import Shared

/// Streams one body into the content-addressed store: SHA-256 and compression as the bytes arrive. The
/// compressed bytes stay in memory up to ``spillBytes`` and only a larger body gets a temporary file while
/// it streams, so a small body whose object exists already is never written at all, and a new one is
/// written whole at the end. ``finish(staging:)`` hands the object to a ``StoreBatch``, which syncs it,
/// renames it to `objects/<kind>/<2 hex>/<sha256>` (an object that exists already is kept) and syncs the
/// directory together with the other files of the batch; ``finish()`` does all that for this object alone.
///
/// Memory is bounded by the compressor's window plus ``spillBytes`` whatever the body size. Beyond
/// `maxBytes` the body is stored truncated; the full size and the full stream's hash are still computed.
final class ObjectWriter {
    private let layout: ObjectStoreLayout
    private let kind: ObjectKind
    private let format: CompressionFormat
    private let maxBytes: Int
    private var compressor: any StreamCompressor
    private var storedHash = SHA256()
    /// The whole body's hash, kept apart only once the body outgrew `maxBytes`.
    private var fullHash: SHA256?
    private var storedBytes: Int64 = 0
    private var fullBytes: Int64 = 0
    private var output: [UInt8] = []
    /// The temporary file a large body streams into; created at the first spill.
    private var temporaryPath: String?
    private var fd: Int32 = -1
    private var compressorFinished = false
    /// Set once the object is staged (or found stored already).
    private var reference: BodyReference?
    /// Used by ``finish()`` only.
    private var ownBatch: StoreBatch?
    /// True once ``finish(staging:)`` succeeded.
    var isFinished: Bool { reference != nil }
    /// After ``finish()``: false when an identical object was already stored (nothing was written).
    private(set) var wroteNewObject = true

    /// `objects/<kind>`, where temporary files go (the recovery sweep looks there).
    private var temporaryDirectory: String { "\(layout.state.objectsDirectory)/\(kind.rawValue)" }

    /// Compressed bytes held in memory before they go to a temporary file.
    static let spillBytes = 256 * 1024

    init(layout: ObjectStoreLayout, kind: ObjectKind, format: CompressionFormat, maxBytes: Int) throws {
        self.layout = layout
        self.kind = kind
        self.format = format
        self.maxBytes = maxBytes
        self.compressor = try format.makeCompressor()
    }

    deinit {
        if fd >= 0 {
            close(fd)
            if let temporaryPath { unlink(temporaryPath) }
        }
    }

    /// Hashes and compresses `bytes`. Retry-safe: when it throws (the disk is full) the chunk was not taken,
    /// so the caller offers the same chunk again once there is room. Compressed output left by earlier
    /// chunks is written out first, before this chunk is touched.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if output.count >= Self.spillBytes { try drain() }
        fullBytes += Int64(bytes.count)
        let room = max(0, maxBytes - Int(storedBytes))
        let kept = UnsafeRawBufferPointer(rebasing: bytes.prefix(room))
        if kept.count > 0 {
            storedBytes += Int64(kept.count)
            storedHash.update(bufferPointer: kept)
            try compressor.compress(kept, into: &output)
        }
        if kept.count < bytes.count {
            // Past the bound: only the whole body's hash goes on, from a copy of the stored bytes' state,
            // so each byte is hashed once however the body ends.
            var full = fullHash ?? storedHash
            full.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[kept.count...]))
            fullHash = full
        }
    }

    /// Bytes given so far, including any beyond the bound.
    var receivedBytes: Int64 { fullBytes }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Completes the object, makes it durable on its own and returns its reference. Retry-safe: after a
    /// failure (disk full) calling it again carries on where it stopped.
    func finish() throws -> BodyReference {
        let batch = ownBatch ?? StoreBatch()
        ownBatch = batch
        let reference = try finish(staging: batch)
        try batch.commit()
        wroteNewObject = batch.objectsWritten > 0
        return reference
    }

    /// Completes the object and stages it in `batch` (durable once the batch commits); returns its
    /// reference. Nothing is staged when the object is stored already. Retry-safe: after a failure (disk
    /// full) calling it again carries on where it stopped, and once it succeeded it returns the same
    /// reference.
    func finish(staging batch: StoreBatch) throws -> BodyReference {
        if let reference { return reference }
        if !compressorFinished {
            try compressor.finish(into: &output)
            compressorFinished = true
        }
        let sha = Hex.string(storedHash.finalize())
        let full = fullHash.map { Hex.string($0.finalize()) } ?? sha
        let directory = layout.directory(kind: kind, sha256: sha)
        let path = layout.path(kind: kind, sha256: sha)
        if access(path, F_OK) == 0 {
            // Stored already (and made durable when it was): drop ours without writing or syncing it.
            if fd >= 0 {
                close(fd)
                fd = -1
                if let temporaryPath { unlink(temporaryPath) }
            }
            output = []
            batch.countDeduplicated()
        } else if fd >= 0 {
            try drain()
            batch.stage(StoreBatch.Staged(directory: directory, name: sha, policy: .keepExisting,
                                          temporaryDirectory: temporaryDirectory, bytes: nil, fd: fd,
                                          temporary: temporaryPath))
            fd = -1  // the batch owns the file now
        } else {
            batch.stage(StoreBatch.Staged(directory: directory, name: sha, policy: .keepExisting,
                                          temporaryDirectory: temporaryDirectory, bytes: output))
            output = []
        }
        let reference = BodyReference(kind: kind, sha256: sha, size: storedBytes, truncated: storedBytes < fullBytes,
                                      fullSize: fullBytes, fullSHA256: full, compression: format.rawValue)
        self.reference = reference
        return reference
    }

    /// Writes the buffered compressed output. Bytes that reached the file are dropped from the buffer even
    /// when a later write fails, so a retry continues after them instead of writing them twice (which would
    /// corrupt the compressed stream).
    private func drain() throws {
        guard !output.isEmpty else { return }
        if fd < 0 {
            try FileManager.default.createDirectory(atPath: temporaryDirectory, withIntermediateDirectories: true)
            let path = "\(temporaryDirectory)/.tmp-\(UUID().uuidString)"
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            guard fd >= 0 else {
                throw IngestError(errno == ENOSPC ? .diskFull : .objectUnwritable, "cannot create \(path): errno \(errno)")
            }
            temporaryPath = path
        }
        let (done, failure) = output.withUnsafeBytes { writeFully(fd, $0) }
        output.removeFirst(done)
        guard failure == 0 else {
            throw IngestError(failure == ENOSPC ? .diskFull : .objectUnwritable,
                              "cannot write \(temporaryPath ?? "a temporary object"): errno \(failure)")
        }
    }

}
