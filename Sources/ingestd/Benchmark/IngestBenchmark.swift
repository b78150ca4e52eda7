import Crypto
import Foundation
import Logging
import NIOCore
import Shared

/// `ingestd --benchmark-corpus DIR`: how fast bodies go through the store path (SHA-256, compression,
/// temporary file, fsync, rename, directory fsync), against `zstd -1` and `openssl dgst -sha256` on the
/// same files in the same run, plus the WAL's group-commit append. Each file is one body, streamed in
/// 64 KiB chunks as the gateway's frames carry it. Files are read into memory first, so the figures are
/// the pipeline's, not the disk's read speed.
struct IngestBenchmark {
    let corpus: String
    let scratch: String
    let format: CompressionFormat

    struct Measurement {
        var label: String
        var bytes: Int
        var seconds: Double
        var megabytesPerSecond: Double { Double(bytes) / 1_000_000 / seconds }
        var line: String { String(format: "%-58@ %8.3f s %9.1f MB/s", label as NSString, seconds, megabytesPerSecond) }
    }

    func run() throws -> [Measurement] {
        let files = try FileManager.default.contentsOfDirectory(atPath: corpus).sorted()
            .map { "\(corpus)/\($0)" }
            .filter { path in
                (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular
            }
        guard !files.isEmpty else { throw IngestError(.objectUnwritable, "no files in \(corpus)") }
        let bodies = try files.map { path -> [UInt8] in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw IngestError(.objectUnwritable, "cannot read \(path)")
            }
            return [UInt8](data)
        }
        let total = bodies.reduce(0) { $0 + $1.count }
        var results: [Measurement] = []

        results.append(
            measure("sha256 only (swift-crypto, 64 KiB updates)", total) {
                for body in bodies {
                    var hash = SHA256()
                    forEachChunk(body) { hash.update(bufferPointer: $0) }
                    _ = hash.finalize()
                }
            })
        results.append(
            measure("crc32c only (the WAL entry checksum)", total) {
                var crc: UInt32 = 0
                for body in bodies { crc ^= body.withUnsafeBytes { CRC32C.checksum($0) } }
                if crc == 0x1234_5678 { print("") }  // keep the result alive
            })
        results.append(
            try measure("\(format.rawValue) only (Shared compressor, level 1)", total) {
                for body in bodies {
                    var compressor = try format.makeCompressor()
                    var out: [UInt8] = []
                    out.reserveCapacity(256 * 1024)
                    try forEachChunkThrowing(body) { chunk in
                        try compressor.compress(chunk, into: &out)
                        if out.count >= 256 * 1024 { out.removeAll(keepingCapacity: true) }
                    }
                    try compressor.finish(into: &out)
                }
            })
        // A fresh store per pass so no object is deduplicated away.
        let state = StateDirectory(root: "\(scratch)/store-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: state.objectsDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: state.root) }
        let layout = ObjectStoreLayout(state: state)
        results.append(
            try measure("ingestd store: sha256 + \(format.rawValue) + file + fsync + rename", total) {
                for body in bodies {
                    let writer = try ObjectWriter(layout: layout, kind: .request, format: format, maxBytes: Int.max)
                    try forEachChunkThrowing(body) { try writer.write($0) }
                    _ = try writer.finish()
                }
            })
        results.append(try walAppend(bodies, total: total))
        results.append(
            try external(
                "zstd -1 (same files, output to /dev/null)", total,
                ["zstd", "-1", "-q", "-c"] + files))
        results.append(
            try external("openssl dgst -sha256 (same files)", total, ["openssl", "dgst", "-sha256"] + files))
        return results
    }

    /// Every body as 16 KiB request_body frames appended to a WAL in group commits of 64 frames (one
    /// fdatasync each), as a busy gateway connection would fill it.
    private func walAppend(_ bodies: [[UInt8]], total: Int) throws -> Measurement {
        let directory = "\(scratch)/wal-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let wal = WriteAheadLog(directory: directory, segmentLimit: 64 << 20, logger: Logger(label: "benchmark"))
        _ = try wal.recover()
        defer { wal.close() }
        var entries: [WALEntry] = []
        var sequence: UInt64 = 0
        for body in bodies {
            for start in stride(from: 0, to: body.count, by: 16 * 1024) {
                sequence += 1
                var frame = ByteBuffer()
                let chunk = ByteBuffer(bytes: body[start..<min(start + 16 * 1024, body.count)])
                CaptureFrameCodec.encode(
                    CaptureFrame(
                        kind: .requestBody, sequence: sequence, exchangeID: UUID(),
                        timestamp: 0, payload: chunk),
                    into: &frame)
                entries.append(WALEntry(gatewayID: "bench/1", frame: frame))
            }
        }
        let batches = stride(from: 0, to: entries.count, by: 64).map {
            Array(entries[$0..<min($0 + 64, entries.count)])
        }
        let perBatch = entries.count / max(batches.count, 1)
        return try measure("WAL append: 16 KiB frames, fdatasync per 64 (\(perBatch) avg)", total) {
            for batch in batches { _ = try wal.append(batch) }
        }
    }

    private func forEachChunk(_ body: [UInt8], _ body2: (UnsafeRawBufferPointer) -> Void) {
        body.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let end = min(offset + 64 * 1024, raw.count)
                body2(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
                offset = end
            }
        }
    }

    private func forEachChunkThrowing(_ body: [UInt8], _ each: (UnsafeRawBufferPointer) throws -> Void) throws {
        try body.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let end = min(offset + 64 * 1024, raw.count)
                try each(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
                offset = end
            }
        }
    }

    private func measure(_ label: String, _ bytes: Int, _ work: () throws -> Void) rethrows -> Measurement {
        let clock = ContinuousClock()
        let elapsed = try clock.measure(work)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Measurement(label: label, bytes: bytes, seconds: seconds)
    }

    private func external(_ label: String, _ bytes: Int, _ arguments: [String]) throws -> Measurement {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        return try measure(label, bytes) {
            try process.run()
            process.waitUntilExit()
        }
    }
}
