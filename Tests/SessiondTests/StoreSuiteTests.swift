import Foundation
import Logging
import Testing

@testable import sessiond

/// The store's contract, the same suite on a real SQLite file and a real PostgreSQL server.
@Suite struct StoreSuiteTests {
    static func turn(_ capture: String, session: String = "s_1", seq: Int, newSession: Bool = false,
                     modelTurn: Bool = true, arguments: String = #"{"command":"ls"}"#) -> TurnWrite {
        TurnWrite(
            captureID: capture, sessionID: session,
            newSession: newSession ? SessionRow(id: session, agent: "claude-code", client: "claude-cli/2.0", provider: "anthropic",
                                                model: "claude-sonnet-4-5", externalID: "ext-\(session)",
                                                startedAt: "2026-11-24T10:00:00.000Z", intent: "fix it", gitContext: nil,
                                                promptHash: "p_\(session)") : nil,
            seq: seq,
            values: ["capture_id": .text(capture), "session_id": .text(session), "seq": .int(Int64(seq)),
                     "started_at": .text("2026-11-24T10:00:0\(seq).000Z"), "provider": .text("anthropic"),
                     "outcome": .text("complete"), "is_model_turn": .int(modelTurn ? 1 : 0), "input_tokens": .int(10),
                     "output_tokens": .int(5), "cost_usd": .double(0.25), "response_id": .text("msg_\(capture)"),
                     "conversation_hash": .text("h_\(capture)"), "chain_hash": .text("chain_\(capture)")],
            toolCalls: [ToolCall(callID: "toolu_\(capture)", name: "Bash", arguments: arguments, kind: "tool_use")],
            toolResults: [ToolResult(callID: "toolu_prev", isError: true, content: "exit 1")],
            anomalies: [.init(kind: "secret_exposure", rule: "aws_access_key", detail: "redacted by the gateway")],
            sessionDelta: SessionDelta(countsAsTurn: modelTurn, lastActivityAt: "2026-11-24T10:00:0\(seq).000Z",
                                       lastActivityNs: Int64(seq), model: "claude-sonnet-4-5",
                                       usage: TokenUsage(input: 10, output: 5, cacheRead: 100, cacheWrite5m: 7),
                                       cost: 0.25, chainHash: "chain_\(capture)", systemHash: "sys"))
    }

    @Test(arguments: StoreKind.allCases)
    func migrationsAreVersionedAndRunOnce(kind: StoreKind) async throws {
        let (store, _) = try await kind.open()
        try await store.migrate()
        try await store.migrate()
        #expect(try await store.texts("SELECT version FROM schema_migrations ORDER BY version") == ["1"])
        for table in ["sessions", "turns", "tool_calls", "tool_results", "anomaly_events", "access_audit_log", "dead_letters"] {
            #expect(try await store.count(table) == 0, "\(table)")
        }
        try await store.close()
    }

    @Test(arguments: StoreKind.allCases)
    func aTurnWrittenAgainAddsNothing(kind: StoreKind) async throws {
        let (store, _) = try await kind.open()
        let turns = [Self.turn("c1", seq: 1, newSession: true), Self.turn("c2", seq: 2)]
        try await store.write(turns, deadLetters: [])
        // Straight to the store, past the processor's existence check: the store itself must be idempotent.
        try await store.write(turns, deadLetters: [])
        try await store.write([turns[1]], deadLetters: [])
        #expect(try await store.count("turns") == 2)
        #expect(try await store.count("tool_calls") == 2)
        #expect(try await store.count("tool_results") == 2)
        #expect(try await store.count("anomaly_events") == 2)
        #expect(try await store.texts("SELECT turn_count FROM sessions") == ["2"])
        #expect(try await store.texts("SELECT input_tokens FROM sessions") == ["20"])
        #expect(try await store.texts("SELECT cache_write_tokens FROM sessions") == ["14"])
        #expect(try await store.texts("SELECT last_chain_hash FROM sessions") == ["chain_c2"])
        try await store.close()
    }

    @Test(arguments: StoreKind.allCases)
    func aLargeBatchIsWrittenOnceWithEveryToolCallOnItsTurn(kind: StoreKind) async throws {
        // Large enough for PostgreSQL's COPY path; the second write falls back to INSERT … ON CONFLICT.
        let (store, _) = try await kind.open()
        let turns = (1...40).map { Self.turn("c\($0)", session: "s_\($0 % 4)", seq: $0, newSession: $0 <= 4) }
        try await store.write(turns, deadLetters: [])
        try await store.write(turns + [Self.turn("c41", session: "s_1", seq: 41)], deadLetters: [])
        #expect(try await store.count("turns") == 41)
        #expect(try await store.count("tool_calls") == 41)
        #expect(try await store.count("tool_calls c JOIN turns t ON t.id = c.turn_id WHERE c.call_id = 'toolu_' || t.capture_id") == 41)
        #expect(try await store.texts("SELECT turn_count FROM sessions ORDER BY id") == ["10", "11", "10", "10"])
        try await store.close()
    }

    @Test(arguments: StoreKind.allCases)
    func sideRequestsDoNotCountAsSessionTurns(kind: StoreKind) async throws {
        let (store, _) = try await kind.open()
        try await store.write([Self.turn("c1", seq: 1, newSession: true), Self.turn("c2", seq: 2, modelTurn: false),
                               Self.turn("c3", seq: 3)], deadLetters: [])
        #expect(try await store.texts("SELECT turn_count FROM sessions") == ["2"])
        try await store.close()
    }

    @Test(arguments: StoreKind.allCases.flatMap { kind in [1, 20].map { (kind, $0) } })
    func awkwardTextIsKept(kind: StoreKind, batch: Int) async throws {
        // One turn goes by INSERT, twenty by COPY in PostgreSQL: both must keep every byte (U+0000 aside).
        let (store, _) = try await kind.open()
        let awkward = "{\"bytes\":\"a\u{0}b\",\"tab\":\"\t\",\"nl\":\"\n\r\",\"bs\":\"\\\\N \\\\\",\"é🧪\":1}"
        try await store.write((1...batch).map { Self.turn("c\($0)", seq: $0, newSession: $0 == 1, arguments: awkward) },
                              deadLetters: [])
        switch kind {
        case .postgres:
            let stored = try await store.texts("SELECT arguments FROM tool_calls WHERE call_id = 'toolu_c1'")
            #expect(stored == [awkward.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")])
        case .sqlite:
            // SQLite keeps U+0000 (sqlite-nio's reader stops at it, so compare the stored bytes).
            let stored = try await store.texts("SELECT hex(arguments) FROM tool_calls WHERE call_id = 'toolu_c1'")
            let hex: String = awkward.utf8.map { byte -> String in
                let digits = String(byte, radix: 16, uppercase: true)
                return digits.count == 1 ? "0" + digits : digits
            }.joined()
            #expect(stored == [hex])
        }
        try await store.close()
    }

    @Test(arguments: StoreKind.allCases)
    func aRestartResumesTheSessionWhereItStopped(kind: StoreKind) async throws {
        let (store, _) = try await kind.open()
        try await store.write([Self.turn("c1", seq: 1, newSession: true), Self.turn("c2", seq: 2, modelTurn: false)],
                              deadLetters: [])
        var tracker = SessionTracker(idleTimeoutNanoseconds: 300_000_000_000)
        try await store.loadTracker(into: &tracker, since: "2000-01-01")
        #expect(tracker.sessions["s_1"]?.lastChainHash == "chain_c2")
        var next = ParsedExchange()
        next.isModelTurn = true
        next.clientSessionID = "ext-s_1"
        // The side request took seq 2 though it does not count in turn_count: the next turn is 3.
        #expect(tracker.assign(captureID: "c3", parsed: next, at: 3) ==
                SessionTracker.Assignment(sessionID: "s_1", isNew: false, seq: 3, previousChainHash: "chain_c2",
                                          cue: "client_id", systemPromptChanged: false))
        var chained = ParsedExchange()
        chained.isModelTurn = true
        chained.previousResponseID = "msg_c1"
        #expect(tracker.assign(captureID: "c4", parsed: chained, at: 4)?.sessionID == "s_1")
        try await store.close()
    }

    struct Change: CustomTestStringConvertible, Sendable {
        var kind: StoreKind
        var table: String
        var statement: String
        var testDescription: String { "\(kind): \(statement)" }
    }

    /// UPDATE and DELETE on every append-only table in both backends; TRUNCATE in PostgreSQL (SQLite has none:
    /// its `DELETE FROM t` is the truncate, and the trigger disables that optimisation).
    static let changes = Schema.appendOnlyTables.flatMap { table in
        StoreKind.allCases.flatMap { kind in
            (["UPDATE \(table) SET id = id", "DELETE FROM \(table)"] + (kind == .postgres ? ["TRUNCATE \(table)"] : []))
                .map { Change(kind: kind, table: table, statement: $0) }
        }
    }

    @Test(arguments: changes)
    func appendOnlyTablesRefuseChange(_ change: Change) async throws {
        let (kind, table, statement) = (change.kind, change.table, change.statement)
        let (store, _) = try await kind.open()
        try await store.write([Self.turn("c1", seq: 1, newSession: true)], deadLetters: [])
        try await store.execute("INSERT INTO access_audit_log (at, actor, action) VALUES ('2026-11-24T10:00:00Z', 'test', 'read')")
        await #expect(throws: (any Error).self) { try await store.execute(statement) }
        #expect(try await store.count(table) == 1)
        // The running totals are not history: they stay writable.
        try await store.execute("UPDATE sessions SET intent = 'renamed'")
        try await store.close()
    }

    @Test func theDeployedRoleAppendsAndReadsButNeverRewrites() async throws {
        let (owner, url) = try await StoreKind.postgres.open()
        let role = "fl_sessiond_\(UUID().uuidString.prefix(8).lowercased())"
        let roleSQL = URL(fileURLWithPath: ThrowawayPostgres.script).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/postgres-role.sql").path
        let result = await ChildProcess.run("/usr/bin/psql", [url, "-q", "-v", "ON_ERROR_STOP=1", "-v", "role=\(role)",
                                                              "-v", "password=pw-\(role)", "-f", roleSQL])
        #expect(result.status == 0, "\(result.output)")
        try await owner.close()

        let store = try await StoreFactory.open(url: ThrowawayPostgres.url(url, user: role, password: "pw-\(role)"),
                                                logger: Logger(label: "test"))
        try await store.migrate()  // nothing to apply, and no CREATE attempted
        try await store.write([Self.turn("c1", seq: 1, newSession: true), Self.turn("c2", seq: 2)],
                              deadLetters: [DeadLetter(captureID: nil, deliverySeq: 3, error: "poison", record: "{}")])
        #expect(try await store.count("turns") == 2)
        #expect(try await store.texts("SELECT turn_count FROM sessions") == ["2"])
        for statement in ["UPDATE turns SET model = 'x'", "DELETE FROM tool_calls", "TRUNCATE anomaly_events",
                          "DELETE FROM dead_letters", "DROP TABLE turns", "CREATE TABLE mine (a int)",
                          "ALTER TABLE turns DISABLE TRIGGER ALL"] {
            await #expect(throws: (any Error).self, "\(statement)") { try await store.execute(statement) }
        }
        #expect(try await store.count("turns") == 2)
        try await store.close()
    }
}
