import Foundation
import Logging
import NIOCore
import Shared

/// `sessiond --benchmark N [--benchmark-batch B]` on `database.url` (a scratch database: it writes N turns
/// twice). Prints turns/s for three paths in one run:
///
/// - `copy` (PostgreSQL, measured first): the same turn and tool-call rows through a raw `COPY … FROM STDIN` into
///   tables shaped like turns and tool_calls, the ceiling the issue compares against;
/// - `store`: batches of B prepared turns through the store, as the daemon writes them (one transaction
///   each: sessions, turns, tool calls, totals);
/// - `pipeline`: B capture records per batch through the whole processor (decode, read and decompress the
///   bodies, parse, sessions, price, anomalies, write).
struct StoreBenchmark {
    var turns: Int
    var batch: Int
    var logger: Logger

    func run(configuration: Configuration) async throws {
        guard turns > 0, batch > 0 else { throw SessiondError(.configuration, "--benchmark and --benchmark-batch must be > 0") }
        let url = configuration.database.url
        let store = try await StoreFactory.open(url: url, logger: logger)
        try await store.migrate()
        let run = UUID().uuidString.prefix(8).lowercased()
        let writes = (0..<turns).map { Self.turn(index: $0, run: String(run)) }
        print("sessiond benchmark: \(turns) turns, batches of \(batch), \(url.hasPrefix("sqlite") ? "SQLite" : "PostgreSQL")")

        // The baseline first, right before the path it is compared with (a shared machine's load drifts).
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
        let pipelineRate = try await pipeline(store: store, run: String(run))
        if let copyRate {
            print(String(format: "store/copy %.0f%%, pipeline/copy %.0f%%", 100 * storeRate / copyRate,
                         100 * pipelineRate / copyRate))
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

    /// Capture records over a small pool of stored bodies, through the processor in batches.
    private func pipeline(store: any TurnStore, run: String) async throws -> Double {
        let home = NSTemporaryDirectory() + "flightlog-bench-\(run)"
        defer { try? FileManager.default.removeItem(atPath: home) }
        let state = StateDirectory(root: home)
        try state.prepareCommon()
        let bodies = try (0..<64).map { i in
            (try Self.put(.request, Self.request(i), state: state), try Self.put(.response, Self.response(i), state: state))
        }
        let encoder = JSONEncoder()
        let payloads: [(UInt64, ByteBuffer)] = try (0..<turns).map { i in
            let (request, response) = bodies[i % bodies.count]
            let record = Self.record(id: UUID(), index: i, request: request, response: response)
            return (UInt64(i + 1), ByteBuffer(data: try encoder.encode(record)))
        }
        let processor = RecordProcessor(store: store, tracker: SessionTracker(idleTimeoutNanoseconds: 300_000_000_000),
                                        prices: try PriceTable.load(overrides: nil), state: state, logger: logger)
        return try await measure("pipeline") {
            for start in stride(from: 0, to: payloads.count, by: batch) {
                try await processor.process(Array(payloads[start..<min(start + batch, payloads.count)]))
            }
        }
    }

    // MARK: synthetic data

    /// A turn as the processor builds it: every column filled, one tool call, a new session every tenth turn.
    static func turn(index i: Int, run: String) -> TurnWrite {
        let captureID = "bench-\(run)-\(i)"
        let session = "s_bench-\(run)-\(i / 10 * 10)"
        let started = Timestamp.string(nanoseconds: 1_790_000_000_000_000_000 + Int64(i) * 1_000_000)
        let values: [String: SQLValue] = [
            "capture_id": .text(captureID), "session_id": .text(session), "seq": .int(Int64(i % 10 + 1)),
            "started_at": .text(started), "ttfb_ms": .double(412.5), "duration_ms": .double(2380.25),
            "provider": .text("anthropic"), "endpoint": .text("messages"), "model": .text("claude-sonnet-4-5-20250929"),
            "method": .text("POST"), "host": .text("api.anthropic.com"), "path": .text("/v1/messages?beta=true"),
            "status": .int(200), "streamed": .int(1), "outcome": .text("complete"), "is_model_turn": .int(1),
            "is_prewarm": .int(0), "request_sha256": .text(SessionTracker.hash("req\(i)")),
            "response_sha256": .text(SessionTracker.hash("resp\(i)")), "request_bytes": .int(48_213),
            "response_bytes": .int(3_120), "input_tokens": .int(12), "output_tokens": .int(431),
            "cache_read_tokens": .int(20_480), "cache_write_tokens": .int(1_024), "cache_write_5m_tokens": .int(1_024),
            "cache_write_1h_tokens": .int(0), "reasoning_tokens": .int(0), "cost_usd": .double(0.01384),
            "stop_reason": .text("tool_use"),
            "usage_json": .text(#"{"cache_creation_input_tokens":1024,"cache_read_input_tokens":20480,"input_tokens":12,"output_tokens":431}"#),
            "prompt_hash": .text(SessionTracker.hash("prompt\(i / 10)")), "conversation_hash": .text(SessionTracker.hash("c\(i)")),
            "response_id": .text("msg_\(run)_\(i)"), "previous_response_id": .null,
            "client_session_id": .text("5f0c0e4e-1111-2222-3333-\(String(format: "%012d", i / 10))"),
            "session_cue": .text(i % 10 == 0 ? "new" : "client_id"), "parse_error": .null, "redactions": .null,
            "client_pid": .int(4242), "client_executable": .text("/usr/local/bin/claude"),
            "client_cwd": .text("/home/dev/project"), "user_agent": .text("claude-cli/2.0.14 (external, cli)"),
            "metadata_path": .text("captures/20261124T100000Z_\(captureID).json"),
            "chain_hash": .text(SessionTracker.hash("chain\(i)")),
        ]
        let newSession = i % 10 == 0 ? SessionRow(
            id: session, agent: "claude-code", client: "claude-cli/2.0.14", provider: "anthropic",
            model: "claude-sonnet-4-5-20250929", externalID: "ext-\(run)-\(i)", startedAt: started,
            intent: "refactor the parser and run the tests", gitContext: "project@main",
            promptHash: SessionTracker.hash("prompt\(i / 10)")) : nil
        return TurnWrite(
            captureID: captureID, sessionID: session, newSession: newSession, seq: i % 10 + 1, values: values,
            toolCalls: [ToolCall(callID: "toolu_\(run)_\(i)", name: "Bash", arguments: #"{"command":"swift test"}"#,
                                 kind: "tool_use")],
            toolResults: [], anomalies: [],
            sessionDelta: SessionDelta(lastActivityAt: started, lastActivityNs: Int64(i), model: "claude-sonnet-4-5-20250929",
                                       usage: TokenUsage(input: 12, output: 431, cacheRead: 20_480, cacheWrite5m: 1_024),
                                       cost: 0.01384, chainHash: SessionTracker.hash("chain\(i)"), systemHash: "sys"))
    }

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
