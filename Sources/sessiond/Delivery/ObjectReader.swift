import Foundation
import Shared

/// Reads stored objects back, decompressed, like ``ObjectStoreLayout/read(_:)``, but keeping one zstd context
/// for every object it reads: a new context (and its 128 KiB buffer) per body was a visible share of a
/// record's CPU time. Not thread-safe: one reader per prepare task.
final class ObjectReader {
    private let layout: ObjectStoreLayout
    private var zstd: ZstdDecompressor?

    init(layout: ObjectStoreLayout) {
        self.layout = layout
    }

    /// The stored (redacted) bytes of `reference`, decompressed; throwing where ``ObjectStoreLayout/read(_:)`` throws.
    func read(_ reference: BodyReference) throws -> [UInt8] {
        let path = layout.path(kind: reference.kind, sha256: reference.sha256)
        let data = try Self.contents(path)
        guard let format = CompressionFormat(rawValue: reference.compression) else {
            throw SessiondError(.object, "\(path): unknown compression '\(reference.compression)'")
        }
        switch format {
        case .zstd:
            let decompressor = try zstd ?? ZstdDecompressor()
            zstd = decompressor
            try decompressor.reset()
            // The record's size is a hint only: bounded, so a wrong one cannot make us allocate without limit.
            var reused = decompressor
            return try CompressionFormat.decompress(data, with: &reused,
                                                    capacity: Int(min(max(reference.size, 0), 16 * 1024 * 1024)))
        case .gzip:
            return try format.decompress(data)
        }
    }

    /// The whole file, or an error saying the object is missing (as the layout's reader says it).
    private static func contents(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SessiondError(.object, "\(path): object missing") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw SessiondError(.object, "\(path): object missing")
        }
        // One byte more than the size, so the read that finds the end needs no room of its own.
        var bytes = [UInt8](repeating: 0, count: max(Int(info.st_size), 0) + 1)
        var filled = 0
        while true {
            if filled == bytes.count { bytes.append(contentsOf: repeatElement(0, count: 64 * 1024)) }
            let n = bytes.withUnsafeMutableBytes { raw in
                Foundation.read(fd, raw.baseAddress.map { $0 + filled }, raw.count - filled)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw SessiondError(.object, "\(path): object missing")
            }
            if n == 0 { break }
            filled += n
        }
        bytes.removeSubrange(filled...)
        return bytes
    }
}
