import Foundation
import Logging
import NIOCore
import Shared

/// `sessiond --benchmark N [--benchmark-batch B]` on `database.url` (a scratch database: it writes N turns
/// twice). N capture records (Anthropic requests of ~10 KB and their responses, stored as zstd objects like
/// ingestd stores them) are turned into rows once without a database; those very rows are then written by
/// each path, and turns/s printed for every path in one run:
///
/// - `parse` (no database): decode the records, read and decompress the bodies, parse, sessions, price,
///   anomalies; the rows it builds are the ones the next two paths write;
/// - `copy` (PostgreSQL, measured right before `store`): those turn and tool-call rows through one raw
///   `COPY … FROM STDIN` into tables shaped like turns and tool_calls, the ceiling the issue compares against;
/// - `store`: those rows in batches of B through the store, as the daemon writes them (one transaction each:
///   sessions, turns, tool calls, totals);
/// - `pipeline`: the same records under new capture ids (so the rows differ only in their ids and hashes),
///   B per batch through the whole processor (``RecordProcessor/prepare(_:)`` then `process`, each batch prepared
///   while the one before it is written, as ``RecordConnectionHandler`` hands delivered batches over),
///   the figure that counts for the daemon.
struct StoreBenchmark {
    var turns: Int
    var batch: Int
    var logger: Logger

    func run(configuration: Configuration) async throws {
        guard turns > 0, batch > 0 else { throw SessiondError(.configuration, "--benchmark and --benchmark-batch must be > 0") }
        let url = configuration.database.url
        let store = try await StoreFactory.open(url: url, logger: logger)
        try await store.migrate()
        let run = String(UUID().uuidString.prefix(8).lowercased())
        print("sessiond benchmark: \(turns) turns, batches of \(batch), \(url.hasPrefix("sqlite") ? "SQLite" : "PostgreSQL")")

        let home = NSTemporaryDirectory() + "flightlog-bench-\(run)"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let state = StateDirectory(root: home)
        try state.prepareCommon()
        let bodies = try (0..<64).map { i in
            (try Self.put(.request, Self.request(i), state: state), try Self.put(.response, Self.response(i), state: state))
        }
        let first = try Self.payloads(count: turns, bodies: bodies)
        let second = try Self.payloads(count: turns, bodies: bodies)

        // The rows, built once by the processor itself over a store that only keeps them.
        let recorder = RecordingStore()
        let parseRate = try await measure("parse") {
            try await process(first, store: recorder, state: state)
        }
        let writes = await recorder.writes
        guard writes.count == turns else {
            throw SessiondError(.database, "benchmark: the processor built \(writes.count) turns from \(turns) records")
        }

        // The baseline right before the path it is compared with (a shared machine's load drifts).
        var copyRate: Double?
        if let postgres = store as? PostgresTurnStore {
            try await postgres.prepareCopyBaseline()
            copyRate = try await measure("copy") { try await postgres.copyBaseline(writes) }
        }
        let storeRate = try await measure("store") {
            for start in stride(from: 0, to: writes.count, by: batch) {
                try await store.write(Array(writes[start..<min(start + batch, writes.count)]), deadLetters: [])
            }
        }
        let pipelineRate = try await measure("pipeline") {
            try await process(second, store: store, state: state)
        }
        if let copyRate {
            print(String(format: "store/copy %.0f%%, pipeline/copy %.0f%%, parse/copy %.0f%%", 100 * storeRate / copyRate,
                         100 * pipelineRate / copyRate, 100 * parseRate / copyRate))
        }
        try await store.close()
    }

    private func measure(_ name: String, _ body: () async throws -> Void) async throws -> Double {
        let started = ContinuousClock.now
        try await body()
        let seconds = RecordProcessor.milliseconds(ContinuousClock.now - started) / 1000
        let rate = Double(turns) / seconds
        print(name.padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: " %9.0f turns/s  (%.2f s)", rate, seconds))
        return rate
    }

    /// The records through a fresh processor, `batch` at a time, as ``RecordConnectionHandler`` hands them over:
    /// each batch prepared while the one before it is written.
    private func process(_ payloads: [(UInt64, ByteBuffer)], store: any TurnStore, state: StateDirectory) async throws {
        let processor = RecordProcessor(store: store, tracker: SessionTracker(idleTimeoutNanoseconds: 300_000_000_000),
                                        prices: try PriceTable.load(overrides: nil), state: state, logger: logger)
        var writing: Task<Void, any Error>?
        for start in stride(from: 0, to: payloads.count, by: batch) {
            let prepared = await processor.prepare(Array(payloads[start..<min(start + batch, payloads.count)]))
            try await writing?.value
            writing = Task { try await processor.process(prepared) }
        }
        try await writing?.value
    }

    /// `count` capture records (as ingestd delivers them: JSON) over a small pool of stored bodies, each under a
    /// capture id of its own.
    private static func payloads(count: Int, bodies: [(BodyReference, BodyReference)]) throws -> [(UInt64, ByteBuffer)] {
        let encoder = JSONEncoder()
        return try (0..<count).map { i in
            let (request, response) = bodies[i % bodies.count]
            let record = Self.record(id: UUID(), index: i, request: request, response: response)
            return (UInt64(i + 1), ByteBuffer(data: try encoder.encode(record)))
        }
    }

    // MARK: synthetic data

    static func request(_ i: Int) -> String {
        let history = (0..<20).map { #"{"role":"\#($0 % 2 == 0 ? "user" : "assistant")","content":"step \#($0) of task \#(i): \#(String(repeating: "lorem ipsum ", count: 40))"}"# }
        return #"{"model":"claude-sonnet-4-5","max_tokens":8192,"stream":true,"system":"You are Claude Code.","metadata":{"user_id":"{\"session_id\":\"5f0c0e4e-1111-2222-3333-\#(String(format: "%012d", i))\"}"},"messages":[\#(history.joined(separator: ","))]}"#
    }

    static func response(_ i: Int) -> String {
        #"{"id":"msg_\#(i)","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Running the tests."},{"type":"tool_use","id":"toolu_\#(i)","name":"Bash","input":{"command":"swift test"}}],"stop_reason":"tool_use","usage":{"input_tokens":12,"cache_creation_input_tokens":1024,"cache_read_input_tokens":20480,"output_tokens":431}}"#
    }

    static func put(_ kind: ObjectKind, _ text: String, state: StateDirectory) throws -> BodyReference {
        let bytes = Array(text.utf8)
        let digest = SessionTracker.hash(text)
        var compressor = try CompressionFormat.zstd.makeCompressor()
        var compressed: [UInt8] = []
        try bytes.withUnsafeBytes { try compressor.compress($0, into: &compressed) }
        try compressor.finish(into: &compressed)
        let layout = ObjectStoreLayout(state: state)
        try FileManager.default.createDirectory(atPath: layout.directory(kind: kind, sha256: digest),
                                                withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: layout.path(kind: kind, sha256: digest), contents: Data(compressed)) else {
            throw SessiondError(.configuration, "benchmark: cannot write an object under \(state.root)")
        }
        return BodyReference(kind: kind, sha256: digest, size: Int64(bytes.count), fullSize: Int64(bytes.count),
                             fullSHA256: digest, compression: "zstd")
    }

    static func record(id: UUID, index i: Int, request: BodyReference, response: BodyReference) -> CaptureRecord {
        let started: Int64 = 1_790_000_000_000_000_000 + Int64(i) * 1_000_000
        let begin = ExchangeBegin(gatewayID: "bench", connectionID: UInt64(i), scheme: "https", host: "api.anthropic.com",
                                  port: 443, method: "POST", path: "/v1/messages", httpVersion: "HTTP/1.1",
                                  headers: [["content-type", "application/json"], ["x-api-key", "[REDACTED hmac:000000000000]"]],
                                  client: ClientAttribution(address: "127.0.0.1", userAgent: "claude-cli/2.0.14"),
                                  startedAt: started)
        let head = ResponseHead(status: 200, reason: "OK", httpVersion: "HTTP/1.1", headers: [["content-type", "application/json"]])
        let end = ExchangeEnd(outcome: .complete, status: 200, endedAt: started + 2_000_000_000, timeToFirstByte: 400_000_000,
                              requestBytes: request.size, responseBytes: response.size, requestWireSHA256: request.sha256,
                              responseWireSHA256: response.sha256, redactions: [], streamed: false, webSocket: false)
        return CaptureRecord(captureID: id, begin: begin, response: head, end: end, requestBody: request, responseBody: response,
                             metadataPath: "captures/bench_\(id.uuidString.lowercased()).json")
    }
}

/// A store that writes nothing and keeps what it is given: the benchmark's rows, built by the processor.
actor RecordingStore: TurnStore {
    private(set) var writes: [TurnWrite] = []

    func migrate() async throws {}
    func existing(_ captureIDs: [String]) async throws -> Set<String> { [] }
    func write(_ turns: [TurnWrite], deadLetters: [DeadLetter]) async throws { writes += turns }
    func loadTracker(into tracker: inout SessionTracker, since: String) async throws {}
    func close() async throws {}
    nonisolated func isPermanent(_ error: any Error) -> Bool { false }
    func execute(_ sql: String) async throws {}
    func count(_ table: String) async throws -> Int { table == "turns" ? writes.count : 0 }
    func texts(_ sql: String) async throws -> [String?] { [] }
}
