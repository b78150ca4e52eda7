import Foundation
import Logging
import NIOCore

/// The segmented write-ahead log under `$home/wal/`: `segment-<16 digits>.wal` files, appended in batches,
/// each batch made durable with one `fdatasync` (group commit). Not thread-safe: one queue owns it.
final class WriteAheadLog {
    struct Position: Hashable, Comparable {
        var segment: UInt64
        static func < (a: Position, b: Position) -> Bool { a.segment < b.segment }
    }

    let directory: String
    let segmentLimit: Int
    private let logger: Logger
    private var fd: Int32 = -1
    private(set) var currentSegment: UInt64 = 0
    private var currentSize = 0
    /// Bytes in all segments, for `ingest.wal_max_bytes`.
    private(set) var totalBytes = 0
    private var segmentSizes: [UInt64: Int] = [:]

    init(directory: String, segmentLimit: Int, logger: Logger) {
        self.directory = directory
        self.segmentLimit = segmentLimit
        self.logger = logger
    }

    static func name(_ segment: UInt64) -> String { String(format: "segment-%016llu.wal", segment) }

    var segments: [UInt64] { segmentSizes.keys.sorted() }

    /// Reads every segment, cuts a torn or corrupt tail (and says exactly what it cut), and opens a new
    /// segment for appends. Returns the entries in log order with the segment each came from (all in memory:
    /// for tests and small logs; ingestd itself uses ``recover(_:)``).
    func recover() throws -> [(UInt64, WALEntry)] {
        var all: [(UInt64, WALEntry)] = []
        try recover { all.append(($0, $1)) }
        return all
    }

    /// As ``recover()``, but hands each entry to `each` in log order and holds one segment in memory at a
    /// time: a WAL that grew to `ingest.wal_max_bytes` (4 GiB by default) while sessiond was away must not
    /// need that much memory, and more, to start again.
    func recover(_ each: (UInt64, WALEntry) throws -> Void) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let numbers = names.compactMap { n -> UInt64? in
            guard n.hasPrefix("segment-"), n.hasSuffix(".wal") else { return nil }
            return UInt64(n.dropFirst(8).dropLast(4))
        }.sorted()
        for number in numbers {
            let path = "\(directory)/\(Self.name(number))"
            let bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
            let scan = WALEntry.scan(bytes)
            if let problem = scan.problem {
                logger.warning("cutting the WAL tail", metadata: [
                    "file": "\(path)", "offset": "\(scan.validLength)", "bytes_cut": "\(bytes.count - scan.validLength)",
                    "reason": "\(problem)",
                ])
                guard truncate(path, off_t(scan.validLength)) == 0 else {
                    throw IngestError(.walUnwritable, "cannot cut \(path) at \(scan.validLength): errno \(errno)")
                }
            }
            segmentSizes[number] = scan.validLength
            totalBytes += scan.validLength
            for entry in scan.entries { try each(number, entry) }
            currentSegment = max(currentSegment, number)
        }
        try openSegment(currentSegment + 1)
    }

    /// Appends entries and makes them durable; returns the segment they went to. Throws (and leaves the log
    /// as it was) when the disk refuses them.
    func append(_ entries: [WALEntry]) throws -> UInt64 {
        if currentSize >= segmentLimit { try openSegment(currentSegment + 1) }
        var bytes: [UInt8] = []
        for e in entries { e.encode(into: &bytes) }
        let written = bytes.withUnsafeBytes { raw -> Int in
            var done = 0
            while done < raw.count {
                guard let base = raw.baseAddress else { return 0 }
                let n = write(fd, base + done, raw.count - done)
                if n <= 0 { return n < 0 ? -Int(errno) : done }
                done += n
            }
            return done
        }
        guard written == bytes.count, fdatasync(fd) == 0 else {
            let code = written < 0 ? Int32(-written) : errno
            // Leave no partial entry behind: the next recovery would cut it anyway, but a live log must
            // stay appendable after the disk frees up.
            ftruncate(fd, off_t(currentSize))
            lseek(fd, off_t(currentSize), SEEK_SET)
            throw IngestError(code == ENOSPC ? .diskFull : .walUnwritable,
                              "cannot append to \(Self.name(currentSegment)): \(String(cString: strerror(code)))")
        }
        currentSize += bytes.count
        totalBytes += bytes.count
        segmentSizes[currentSegment, default: 0] += bytes.count
        return currentSegment
    }

    /// Deletes a finished segment (never the one being appended to).
    func delete(_ segment: UInt64) {
        guard segment != currentSegment, let size = segmentSizes[segment] else { return }
        unlink("\(directory)/\(Self.name(segment))")
        segmentSizes[segment] = nil
        totalBytes -= size
        fsyncDirectory(directory)
    }

    private func openSegment(_ number: UInt64) throws {
        if fd >= 0 { Foundation.close(fd) }
        let path = "\(directory)/\(Self.name(number))"
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw IngestError(.walUnwritable, "cannot open \(path): errno \(errno)") }
        currentSegment = number
        currentSize = Int(lseek(fd, 0, SEEK_END))
        segmentSizes[number] = currentSize
        fsyncDirectory(directory)
    }

    func close() {
        if fd >= 0 { Foundation.close(fd) }
        fd = -1
    }
}

/// Writes `bytes` to `fd` until all are written or the file refuses more (interrupted writes are retried).
/// Returns how many were written and the errno that stopped it (0 when all were; a write that took nothing
/// counts as ENOSPC), so a caller can resume after the bytes that did go out.
func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> (written: Int, error: Int32) {
    var done = 0
    while done < bytes.count, let base = bytes.baseAddress {
        let n = write(fd, base + done, bytes.count - done)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return (done, n < 0 ? errno : ENOSPC) }
        done += n
    }
    return (done, 0)
}

/// Makes a directory entry change (create, rename, unlink) durable.
func fsyncDirectory(_ path: String) {
    let dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard dfd >= 0 else { return }
    fsync(dfd)
    close(dfd)
}

/// An ingestd failure, with what to do about it.
struct IngestError: Error, CustomStringConvertible {
    struct Code: Hashable, Sendable {
        let raw: String
        static let walUnwritable = Code(raw: "WAL unwritable")
        static let diskFull = Code(raw: "disk full")
        static let objectUnwritable = Code(raw: "object unwritable")
        static let protocolViolation = Code(raw: "protocol violation")
    }

    var code: Code
    var detail: String

    init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    var description: String { "ingestd \(code.raw): \(detail)" }
}
