import Foundation
import Logging
import PostgresNIO
import SQLiteNIO
import Testing

@testable import sessiond

/// One throwaway PostgreSQL cluster per test process (scripts/pg-test-cluster.sh), a fresh database per test.
/// `FLIGHTLOG_TEST_PG_URL` points at an existing server instead.
actor PostgresTestCluster {
    static let shared = PostgresTestCluster()
    private var baseURL: String?
    private var directory: String?

    func database() async throws -> String {
        let base = try start()
        let name = "t_" + UUID().uuidString.prefix(8).lowercased()
        let (status, output) = Self.run("/usr/bin/psql", [base, "-Atqc", "CREATE DATABASE \(name)"])
        guard status == 0 else { throw SessiondError(.database, "createdb: \(output)") }
        return base.replacingOccurrences(of: "/postgres", with: "/\(name)", options: .backwards)
    }

    private func start() throws -> String {
        if let baseURL { return baseURL }
        if let url = ProcessInfo.processInfo.environment["FLIGHTLOG_TEST_PG_URL"] {
            baseURL = url
            return url
        }
        let dir = FileManager.default.temporaryDirectory.path + "/flightlog-pg-\(getpid())"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/pg-test-cluster.sh").path
        let (status, output) = Self.run(script, ["start", dir])
        guard status == 0, let url = output.split(separator: "\n").last.map(String.init), url.hasPrefix("postgres://") else {
            throw SessiondError(.database, "cannot start the test PostgreSQL cluster: \(output)")
        }
        baseURL = url
        directory = dir
        PostgresTestCluster.stopAtExit(script: script, directory: dir)
        return url
    }

    nonisolated static func stopAtExit(script: String, directory: String) {
        stopCommand.withLock { $0 = (script, directory) }
        atexit {
            if let (script, directory) = PostgresTestCluster.stopCommand.withLock({ $0 }) {
                _ = PostgresTestCluster.run(script, ["stop", directory])
            }
        }
    }

    static let stopCommand = Mutex<(String, String)?>(nil)

    /// Output goes to a file, not a pipe: the server pg_ctl starts inherits descriptors, and a pipe it
    /// holds open would never reach end-of-file.
    nonisolated static func run(_ tool: String, _ arguments: [String]) -> (Int32, String) {
        let outputPath = FileManager.default.temporaryDirectory.path + "/fl-run-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { unlink(outputPath) }
        guard let output = FileHandle(forWritingAtPath: outputPath) else { return (-1, "cannot create \(outputPath)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch { return (-1, "\(error)") }
        process.waitUntilExit()
        try? output.close()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (process.terminationStatus, text)
    }
}

import Synchronization

enum Backend: String, CaseIterable, CustomStringConvertible {
    case sqlite, postgres
    var description: String { rawValue }

    func open() async throws -> (any TurnStore, String) {
        switch self {
        case .sqlite:
            let path = FileManager.default.temporaryDirectory.path + "/fl-db-\(UUID().uuidString)/flightlog.db"
            return (try await SQLiteTurnStore.open(path: path, logger: Logger(label: "test")), "sqlite://" + path)
        case .postgres:
            let url = try await PostgresTestCluster.shared.database()
            return (try await PostgresTurnStore.open(url: url, logger: Logger(label: "test")), url)
        }
    }

    /// Runs raw SQL outside the store (what someone bypassing sessiond would do).
    func raw(_ url: String, _ sql: String) async throws {
        switch self {
        case .sqlite:
            let connection = try await SQLiteConnection.open(storage: .file(path: String(url.dropFirst("sqlite://".count))))
            defer { Task { try? await connection.close() } }
            _ = try await connection.query(sql, [])
        case .postgres:
            let (status, output) = PostgresTestCluster.run("/usr/bin/psql", [url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql])
            if status != 0 { throw SessiondError(.database, output) }
        }
    }

    func count(_ url: String, _ table: String) async throws -> Int {
        switch self {
        case .sqlite:
            let connection = try await SQLiteConnection.open(storage: .file(path: String(url.dropFirst("sqlite://".count))))
            let rows = try await connection.query("SELECT count(*) AS n FROM \(table)", [])
            try await connection.close()
            return Int(rows.first?.column("n")?.integer ?? -1)
        case .postgres:
            let (_, output) = PostgresTestCluster.run("/usr/bin/psql", [url, "-Atqc", "SELECT count(*) FROM \(table)"])
            return Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
    }
}

@Suite struct StorageTests {
    static func write(session: String, capture: String, seq: Int, new: Bool) -> TurnWrite {
        let values: [String: SQLValue] = [
            "capture_id": .text(capture), "session_id": .text(session), "seq": .int(Int64(seq)),
            "started_at": .text("2026-11-24T10:00:0\(seq).000Z"), "provider": .text("anthropic"), "endpoint": .text("messages"),
            "model": .text("claude-sonnet-4-5"), "outcome": .text("complete"), "status": .int(200), "is_model_turn": .int(1),
            "input_tokens": .int(10), "output_tokens": .int(5), "cache_read_tokens": .int(100), "cost_usd": .double(0.5),
            "response_id": .text("resp_\(capture)"), "conversation_hash": .text("h_\(capture)"), "chain_hash": .text("chain_\(seq)"),
        ]
        return TurnWrite(
            captureID: capture, sessionID: session,
            newSession: new ? SessionRow(id: session, agent: "claude-code", client: "claude-cli/2.0", provider: "anthropic",
                                         model: "claude-sonnet-4-5", externalID: "ext-1", startedAt: "2026-11-24T10:00:00.000Z",
                                         intent: "fix it", gitContext: nil, promptHash: "p1") : nil,
            seq: seq, values: values,
            toolCalls: [ToolCall(callID: "toolu_\(seq)", name: "Bash", arguments: "{\"command\":\"ls\"}", kind: "tool_use")],
            toolResults: seq > 1 ? [ToolResult(callID: "toolu_\(seq - 1)", isError: false, content: "a.txt")] : [],
            anomalies: seq == 1 ? [.init(kind: "secret_exposure", rule: "aws_access_key", detail: "redacted")] : [],
            sessionDelta: SessionDelta(lastActivityAt: "2026-11-24T10:00:0\(seq).000Z", lastActivityNs: Int64(seq),
                                       model: "claude-sonnet-4-5", usage: TokenUsage(input: 10, output: 5, cacheRead: 100),
                                       cost: 0.5, chainHash: "chain_\(seq)", systemHash: "sys"))
    }

    @Test(arguments: Backend.allCases)
    func migrationsWritesAndReplays(backend: Backend) async throws {
        let (store, url) = try await backend.open()
        try await store.migrate()
        try await store.migrate()  // idempotent
        let turns = [Self.write(session: "s_1", capture: "c1", seq: 1, new: true),
                     Self.write(session: "s_1", capture: "c2", seq: 2, new: false)]
        try await store.write(turns, deadLetters: [DeadLetter(captureID: "bad", deliverySeq: 9, error: "poison", record: "{}")])
        #expect(try await store.existing(["c1", "c2", "c3"]) == ["c1", "c2"])
        // A replay of the same records changes nothing.
        try await store.write([turns[0]], deadLetters: [])
        #expect(try await backend.count(url, "turns") == 2)
        #expect(try await backend.count(url, "tool_calls") == 2)
        #expect(try await backend.count(url, "tool_results") == 1)
        #expect(try await backend.count(url, "anomaly_events") == 1)
        #expect(try await backend.count(url, "dead_letters") == 1)
        var tracker = SessionTracker(idleTimeoutNanoseconds: 300_000_000_000)
        try await store.loadTracker(into: &tracker, since: "2000-01-01")
        #expect(tracker.sessions["s_1"]?.turnCount == 2)
        #expect(tracker.sessions["s_1"]?.lastChainHash == "chain_2")
        // The restored indexes route the next turn of the same client id to the same session.
        var next = ParsedExchange()
        next.isModelTurn = true
        next.clientSessionID = "ext-1"
        #expect(tracker.assign(captureID: "c3", parsed: next, at: 3)?.sessionID == "s_1")
        try await store.close()
    }

    @Test(arguments: Backend.allCases)
    func appendOnlyTablesRefuseUpdateDeleteAndTruncate(backend: Backend) async throws {
        let (store, url) = try await backend.open()
        try await store.migrate()
        try await store.write([Self.write(session: "s_1", capture: "c1", seq: 1, new: true)], deadLetters: [])
        try await backend.raw(url, "INSERT INTO access_audit_log (at, actor, action) VALUES ('2026-01-01', 'test', 'read')")
        for table in Schema.appendOnlyTables {
            await #expect(throws: (any Error).self, "UPDATE \(table)") {
                try await backend.raw(url, "UPDATE \(table) SET id = id")
            }
            await #expect(throws: (any Error).self, "DELETE \(table)") {
                try await backend.raw(url, "DELETE FROM \(table)")
            }
            if backend == .postgres {
                await #expect(throws: (any Error).self, "TRUNCATE \(table)") {
                    try await backend.raw(url, "TRUNCATE \(table)")
                }
            }
        }
        #expect(try await backend.count(url, "turns") == 1)
        #expect(try await backend.count(url, "tool_calls") == 1)
        #expect(try await backend.count(url, "access_audit_log") == 1)
        // Sessions hold running totals and stay updatable.
        try await backend.raw(url, "UPDATE sessions SET intent = 'x'")
        try await store.close()
    }
}
