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
    private var fullHash = SHA256()
    private var storedBytes: Int64 = 0
    private var fullBytes: Int64 = 0
    private var output: [UInt8] = []
    private let temporaryPath: String
    private var fd: Int32 = -1

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

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        fullBytes += Int64(bytes.count)
        fullHash.update(bufferPointer: bytes)
        let room = max(0, maxBytes - Int(storedBytes))
        let kept = UnsafeRawBufferPointer(rebasing: bytes.prefix(room))
        guard kept.count > 0 else { return }
        storedBytes += Int64(kept.count)
        storedHash.update(bufferPointer: kept)
        try compressor.compress(kept, into: &output)
        if output.count >= 256 * 1024 { try drain() }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Completes the object and returns its reference.
    func finish() throws -> BodyReference {
        try compressor.finish(into: &output)
        try drain()
        guard fsync(fd) == 0 else { throw IngestError(errno == ENOSPC ? .diskFull : .objectUnwritable, "fsync \(temporaryPath): errno \(errno)") }
        close(fd)
        fd = -1
        let sha = Self.hex(storedHash.finalize())
        let full = storedBytes == fullBytes ? sha : Self.hex(fullHash.finalize())
        let directory = layout.directory(kind: kind, sha256: sha)
        let path = layout.path(kind: kind, sha256: sha)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if FileManager.default.fileExists(atPath: path) {
            unlink(temporaryPath)
        } else {
            guard rename(temporaryPath, path) == 0 else {
                throw IngestError(.objectUnwritable, "cannot rename into \(path): errno \(errno)")
            }
            fsyncDirectory(directory)
        }
        return BodyReference(kind: kind, sha256: sha, size: storedBytes, truncated: storedBytes < fullBytes,
                             fullSize: fullBytes, fullSHA256: full, compression: format.rawValue)
    }

    private func drain() throws {
        guard !output.isEmpty else { return }
        let n = output.withUnsafeBytes { raw -> Int in
            var done = 0
            while done < raw.count, let base = raw.baseAddress {
                let w = Foundation.write(fd, base + done, raw.count - done)
                if w <= 0 { return -1 }
                done += w
            }
            return done
        }
        guard n == output.count else {
            throw IngestError(errno == ENOSPC ? .diskFull : .objectUnwritable, "cannot write \(temporaryPath): errno \(errno)")
        }
        output.removeAll(keepingCapacity: true)
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
