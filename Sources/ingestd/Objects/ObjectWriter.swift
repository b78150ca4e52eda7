import Crypto
import Foundation
import Shared

/// Streams one body into the content-addressed store: SHA-256 and compression as the bytes arrive, into a
/// temporary file; ``finish()`` fsyncs it and renames it to `objects/<kind>/<2 hex>/<sha256>` (an object
/// that exists already is kept and the temporary file dropped), then fsyncs the directory.
///
/// Memory is bounded by the compressor's window whatever the body size. Beyond `maxBytes` the body is
/// stored truncated; the full size and the full stream's hash are still computed.
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
    private let temporaryPath: String
    private var fd: Int32 = -1
    private var compressorFinished = false
    /// Set once the object is in place (or found there already).
    private var reference: BodyReference?
    /// True once ``finish()`` succeeded.
    var isFinished: Bool { reference != nil }
    /// After ``finish()``: false when an identical object was already stored (nothing was written).
    private(set) var wroteNewObject = true

    init(layout: ObjectStoreLayout, kind: ObjectKind, format: CompressionFormat, maxBytes: Int) throws {
        self.layout = layout
        self.kind = kind
        self.format = format
        self.maxBytes = maxBytes
        self.compressor = try format.makeCompressor()
        let directory = "\(layout.state.objectsDirectory)/\(kind.rawValue)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        temporaryPath = "\(directory)/.tmp-\(UUID().uuidString)"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw IngestError(errno == ENOSPC ? .diskFull : .objectUnwritable, "cannot create \(temporaryPath): errno \(errno)") }
    }

    deinit {
        if fd >= 0 {
            close(fd)
            unlink(temporaryPath)
        }
    }

    /// Hashes and compresses `bytes`. Retry-safe: when it throws (the disk is full) the chunk was not taken,
    /// so the caller offers the same chunk again once there is room. Compressed output left by earlier
    /// chunks is written out first, before this chunk is touched.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if output.count >= 256 * 1024 { try drain() }
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

    /// Completes the object and returns its reference. Retry-safe: after a failure (disk full) calling it
    /// again carries on where it stopped, and once it succeeded it returns the same reference.
    func finish() throws -> BodyReference {
        if let reference { return reference }
        if !compressorFinished {
            try compressor.finish(into: &output)
            compressorFinished = true
        }
        try drain()
        let sha = Self.hex(storedHash.finalize())
        let full = fullHash.map { Self.hex($0.finalize()) } ?? sha
        let directory = layout.directory(kind: kind, sha256: sha)
        let path = layout.path(kind: kind, sha256: sha)
        if FileManager.default.fileExists(atPath: path) {
            // Stored already (and made durable when it was): drop ours without syncing it.
            unlink(temporaryPath)
            wroteNewObject = false
        } else {
            guard fsync(fd) == 0 else {
                let code = errno
                throw IngestError(code == ENOSPC ? .diskFull : .objectUnwritable, "fsync \(temporaryPath): errno \(code)")
            }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            guard rename(temporaryPath, path) == 0 else {
                let code = errno
                throw IngestError(code == ENOSPC ? .diskFull : .objectUnwritable, "cannot rename into \(path): errno \(code)")
            }
            fsyncDirectory(directory)
        }
        close(fd)
        fd = -1
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
        var done = 0
        var failure: Int32 = 0
        output.withUnsafeBytes { raw in
            while done < raw.count, let base = raw.baseAddress {
                let w = Foundation.write(fd, base + done, raw.count - done)
                if w < 0 && errno == EINTR { continue }
                if w <= 0 {
                    failure = w < 0 ? errno : ENOSPC
                    return
                }
                done += w
            }
        }
        output.removeFirst(done)
        guard failure == 0 else {
            throw IngestError(failure == ENOSPC ? .diskFull : .objectUnwritable,
                              "cannot write \(temporaryPath): errno \(failure)")
        }
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
