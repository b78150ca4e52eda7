import ArgumentParser
import Crypto
import Foundation
import Shared

/// `flightlog verify SESSION|--all`: re-hashes every object and recomputes every chain link; exit 1 naming
/// each bad object or turn.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Re-hash objects and check the hash chains.")

    @OptionGroup var options: DaemonOptions
    @Flag(name: .long, help: "Every session.") var all = false
    @Argument(help: "The session id (or use --all).") var session: String?

    func run() async throws {
        guard all || session != nil else { throw CLIError("verify needs a session id or --all") }
        let configuration = try await options.loadConfiguration(component: "flightlog")
        let state = StateDirectory(root: configuration.home)
        let store = try await StoreReader.open(configuration)
        defer { Task { await store.close() } }
        var binds: [String] = []
        var filter = ""
        if let session, !all {
            binds = [try await SessionLookup.resolve(session, in: store)]
            filter = "WHERE session_id = ?"
        }
        let turns = try await store.rows("""
            SELECT id, capture_id, session_id, seq, request_sha256, response_sha256, input_tokens, output_tokens,
                   cache_read_tokens, cache_write_tokens, model, status, outcome, chain_hash FROM turns \(filter)
            ORDER BY session_id, seq, id
            """, binds)
        await store.audit(action: "verify", target: all ? "all" : (binds.first ?? ""))
        let layout = ObjectStoreLayout(state: state)
        var problems: [String] = []
        var checkedObjects: Set<String> = []
        var previousBySession: [String: String] = [:]
        for t in turns {
            for (kind, column) in [(ObjectKind.request, "request_sha256"), (.response, "response_sha256")] {
                let sha = t.text(column)
                guard !sha.isEmpty, checkedObjects.insert("\(kind.rawValue)/\(sha)").inserted else { continue }
                if let problem = Self.check(layout: layout, kind: kind, sha256: sha) { problems.append(problem) }
            }
            guard !t.text("session_id").isEmpty else { continue }
            let session = t.text("session_id")
            let expected = TurnChain.hash(
                previous: previousBySession[session] ?? "", captureID: t.text("capture_id"),
                requestSHA256: t.text("request_sha256"), responseSHA256: t.text("response_sha256"),
                inputTokens: Int64(t.text("input_tokens")) ?? 0, outputTokens: Int64(t.text("output_tokens")) ?? 0,
                cacheReadTokens: Int64(t.text("cache_read_tokens")) ?? 0, cacheWriteTokens: Int64(t.text("cache_write_tokens")) ?? 0,
                model: t["model"] ?? nil, status: Int(t.text("status")), outcome: t.text("outcome"))
            if expected != t.text("chain_hash") {
                problems.append("turn \(t.text("id")) (session \(session), seq \(t.text("seq"))): chain hash does not match its contents")
            }
            previousBySession[session] = t.text("chain_hash")
        }
        for p in problems { print("BAD \(p)") }
        print("\(turns.count) turns, \(checkedObjects.count) objects checked: \(problems.isEmpty ? "all good" : "\(problems.count) problem(s)")")
        if !problems.isEmpty { throw ExitCode(1) }
    }

    /// nil when the object exists, decompresses and hashes to its name.
    static func check(layout: ObjectStoreLayout, kind: ObjectKind, sha256: String) -> String? {
        let path = layout.path(kind: kind, sha256: sha256)
        guard let data = FileManager.default.contents(atPath: path) else { return "object \(path): missing" }
        for format in CompressionFormat.allCases {
            if let bytes = try? format.decompress([UInt8](data)) {
                let actual = Hex.string(SHA256.hash(data: bytes))
                return actual == sha256 ? nil : "object \(path): content hashes to \(actual)"
            }
        }
        return "object \(path): cannot be decompressed (corrupt)"
    }
}

/// `flightlog export SESSION --format jsonl|har`
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export a session's turns with their bodies.")

    @OptionGroup var options: DaemonOptions
    @Argument(help: "The session id.") var session: String
    @Option(name: .long, help: "jsonl or har.") var format: String = "jsonl"

    func run() async throws {
        guard ["jsonl", "har"].contains(format) else { throw CLIError("--format must be jsonl or har") }
        let configuration = try await options.loadConfiguration(component: "flightlog")
        let layout = ObjectStoreLayout(state: StateDirectory(root: configuration.home))
        let store = try await StoreReader.open(configuration)
        defer { Task { await store.close() } }
        let id = try await SessionLookup.resolve(session, in: store)
        let turns = try await store.rows("""
            SELECT seq, started_at, duration_ms, method, host, path, status, model, input_tokens, output_tokens, cost_usd,
                   request_sha256, response_sha256, capture_id FROM turns WHERE session_id = ? ORDER BY seq, id
            """, [id])
        await store.audit(action: "export", target: id, detail: format)
        func body(_ kind: ObjectKind, _ sha: String) -> String {
            guard !sha.isEmpty, let data = FileManager.default.contents(atPath: layout.path(kind: kind, sha256: sha)) else { return "" }
            for f in CompressionFormat.allCases { if let b = try? f.decompress([UInt8](data)) { return String(decoding: b, as: UTF8.self) } }
            return ""
        }
        if format == "jsonl" {
            for t in turns {
                var object: [String: Any] = t.mapValues { $0.map { $0 as Any } ?? NSNull() }
                object["request_body"] = body(.request, t.text("request_sha256"))
                object["response_body"] = body(.response, t.text("response_sha256"))
                let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        let entries: [[String: Any]] = turns.map { t in
            [
                "startedDateTime": t.text("started_at"), "time": Double(t.text("duration_ms")) ?? 0,
                "request": ["method": t.text("method"), "url": "https://\(t.text("host"))\(t.text("path"))", "httpVersion": "HTTP/1.1",
                            "headers": [], "queryString": [], "cookies": [], "headersSize": -1,
                            "bodySize": body(.request, t.text("request_sha256")).utf8.count,
                            "postData": ["mimeType": "application/json", "text": body(.request, t.text("request_sha256"))]],
                "response": ["status": Int(t.text("status")) ?? 0, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [],
                             "cookies": [], "redirectURL": "", "headersSize": -1,
                             "bodySize": body(.response, t.text("response_sha256")).utf8.count,
                             "content": ["size": body(.response, t.text("response_sha256")).utf8.count, "mimeType": "",
                                         "text": body(.response, t.text("response_sha256"))]],
                "cache": [:], "timings": ["send": 0, "wait": Double(t.text("duration_ms")) ?? 0, "receive": 0],
                "comment": "turn \(t.text("seq")) model \(t.text("model"))",
            ]
        }
        let har: [String: Any] = ["log": ["version": "1.2", "creator": ["name": "flightlog", "version": FlightlogVersion.current],
                                          "entries": entries]]
        let data = try JSONSerialization.data(withJSONObject: har, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
