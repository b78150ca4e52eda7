import Foundation
import Logging
import PostgresNIO

/// PostgreSQL through postgres-nio's pooled client. A batch is one transaction of multi-row statements:
/// one INSERT for the batch's turns (chunked under the bind limit), one for tool calls, one per other
/// table, one UPDATE per session touched.
actor PostgresTurnStore: TurnStore {
    let client: PostgresClient
    private let runner: Task<Void, Never>
    let logger: Logger

    /// `postgres://user[:password]@host[:port]/database`
    static func open(url: String, logger: Logger) async throws -> PostgresTurnStore {
        guard let components = URLComponents(string: url), let host = components.host, let user = components.user else {
            throw SessiondError(.configuration, "database.url: '\(url)' is not postgres://user@host:port/db")
        }
        let database = String(components.path.dropFirst())
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password,
            database: database.isEmpty ? user : database, tls: .disable)
        configuration.options.maximumConnections = 4
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let store = PostgresTurnStore(client: client, logger: logger)
        // Fail fast with a clear error when the server is not there.
        do {
            try await client.query("SELECT 1")
        } catch {
            throw SessiondError(.database, "cannot reach PostgreSQL at \(host):\(components.port ?? 5432): \(String(reflecting: error))")
        }
        return store
    }

    private init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        self.runner = Task { await client.run() }
    }

    func migrate() async throws {
        // A role that may only read and write (deploy/postgres-role.sql) cannot CREATE, even `IF NOT EXISTS`:
        // create the bookkeeping table only when it is missing, and skip migrations already applied.
        let present = try await client.query("SELECT to_regclass('schema_migrations')::text").decode(String?.self)
        var exists = false
        for try await name in present where name != nil { exists = true }
        if !exists {
            try await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
        }
        let applied = try await appliedMigrations()
        for migration in Schema.migrations(.postgres) where !applied.contains(Int64(migration.version)) {
            let logger = self.logger
            try await client.withTransaction(logger: logger) { connection in
                // One migration at a time across several sessionds sharing the database; whoever waited on the
                // lock finds the version applied and does nothing.
                try await connection.query("SELECT pg_advisory_xact_lock(7305516)", logger: logger)
                var check = PostgresBindings()
                check.append(Int64(migration.version))
                let rows = try await connection.query(PostgresQuery(
                    unsafeSQL: "SELECT count(*) FROM schema_migrations WHERE version = $1", binds: check), logger: logger)
                var already: Int64 = 0
                for try await n in rows.decode(Int64.self) { already = n }
                guard already == 0 else { return }
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                var binds = PostgresBindings()
                binds.append(Int64(migration.version))
                binds.append(Timestamp.now())
                try await connection.query(PostgresQuery(
                    unsafeSQL: "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    binds: binds), logger: logger)
            }
        }
    }

    private func appliedMigrations() async throws -> Set<Int64> {
        var applied: Set<Int64> = []
        for try await version in try await client.query("SELECT version FROM schema_migrations").decode(Int64.self) {
            applied.insert(version)
        }
        return applied
    }

    func existing(_ captureIDs: [String]) async throws -> Set<String> {
        guard !captureIDs.isEmpty else { return [] }
        var binds = PostgresBindings()
        binds.append(captureIDs)
        var found: Set<String> = []
        for try await id in try await client.query(
            PostgresQuery(unsafeSQL: "SELECT capture_id FROM turns WHERE capture_id = ANY($1)", binds: binds)
        ).decode(String.self) {
            found.insert(id)
        }
        return found
    }

    func write(_ turns: [TurnWrite], deadLetters: [DeadLetter]) async throws {
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            try await Self.insertSessions(turns.compactMap(\.newSession), on: connection, logger: logger)
            let ids = try await Self.insertTurns(turns, on: connection, logger: logger)
            var calls: [[SQLValue]] = []
            var results: [[SQLValue]] = []
            var anomalies: [[SQLValue]] = []
            for turn in turns {
                guard let id = ids[turn.captureID] else { continue }
                for (i, c) in turn.toolCalls.enumerated() {
                    calls.append([.int(id), .optional(turn.sessionID), .int(Int64(i + 1)), .text(c.callID), .text(c.name),
                                  .text(c.arguments), .text(c.kind)])
                }
                for r in turn.toolResults {
                    results.append([.int(id), .optional(turn.sessionID), .text(r.callID), .int(r.isError ? 1 : 0),
                                    .text(String(r.content.prefix(65536)))])
                }
                for a in turn.anomalies {
                    anomalies.append([.int(id), .optional(turn.sessionID), .text(a.kind), .text(a.rule), .text(a.detail),
                                      .text(Timestamp.now())])
                }
            }
            try await Self.insert("tool_calls", ["turn_id", "session_id", "seq", "call_id", "name", "arguments", "kind"],
                                  calls, on: connection, logger: logger)
            try await Self.insert("tool_results", ["turn_id", "session_id", "call_id", "is_error", "content"], results,
                                  on: connection, logger: logger)
            try await Self.insert("anomaly_events", ["turn_id", "session_id", "kind", "rule", "detail", "detected_at"],
                                  anomalies, on: connection, logger: logger)
            try await Self.insert("dead_letters", ["capture_id", "delivery_seq", "error", "record", "at"],
                                  deadLetters.map { [.optional($0.captureID), .int(Int64($0.deliverySeq)), .text($0.error),
                                                     .text($0.record), .text(Timestamp.now())] },
                                  on: connection, logger: logger)
            try await Self.updateSessions(turns.filter { ids[$0.captureID] != nil }, on: connection, logger: logger)
        }
    }

    private static func insertSessions(_ rows: [SessionRow], on connection: PostgresConnection, logger: Logger) async throws {
        try await insert("sessions", ["id", "agent", "client", "provider", "model", "external_id", "started_at",
                                      "last_activity_at", "intent", "git_context", "prompt_hash"],
                         rows.map { s in [.text(s.id), .optional(s.agent), .optional(s.client), .text(s.provider), .optional(s.model),
                                          .optional(s.externalID), .text(s.startedAt), .text(s.startedAt), .optional(s.intent),
                                          .optional(s.gitContext), .optional(s.promptHash)] },
                         suffix: "ON CONFLICT (id) DO NOTHING", on: connection, logger: logger)
    }

    /// Inserts the turns (skipping any already there) and returns their ids by capture id.
    private static func insertTurns(_ turns: [TurnWrite], on connection: PostgresConnection, logger: Logger) async throws -> [String: Int64] {
        let columns = Array(Set(turns.flatMap { $0.values.keys })).sorted()
        var ids: [String: Int64] = [:]
        let perChunk = max(1, 30_000 / max(columns.count, 1))
        for start in stride(from: 0, to: turns.count, by: perChunk) {
            let chunk = turns[start..<min(start + perChunk, turns.count)]
            let (sql, binds) = statement("turns", columns, chunk.map { t in columns.map { t.values[$0] ?? .null } },
                                         suffix: "ON CONFLICT (capture_id) DO NOTHING RETURNING id, capture_id")
            for try await (id, captureID) in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
                .decode((Int64, String).self) {
                ids[captureID] = id
            }
        }
        return ids
    }

    private static func updateSessions(_ turns: [TurnWrite], on connection: PostgresConnection, logger: Logger) async throws {
        var order: [String] = []
        var totals: [String: (turns: Int64, usage: TokenUsage, cost: Double?, last: SessionDelta)] = [:]
        for turn in turns {
            guard let id = turn.sessionID, let d = turn.sessionDelta else { continue }
            if var t = totals[id] {
                t.turns += d.countsAsTurn ? 1 : 0
                t.usage.input += d.usage.input
                t.usage.output += d.usage.output
                t.usage.cacheRead += d.usage.cacheRead
                t.usage.cacheWrite5m += d.usage.cacheWrite
                t.cost = d.cost.map { ($0) + (t.cost ?? 0) } ?? t.cost
                t.last = d
                totals[id] = t
            } else {
                var usage = d.usage
                usage.cacheWrite5m = d.usage.cacheWrite
                usage.cacheWrite1h = 0
                totals[id] = (d.countsAsTurn ? 1 : 0, usage, d.cost, d)
                order.append(id)
            }
        }
        for id in order {
            guard let t = totals[id] else { continue }
            var binds = PostgresBindings()
            binds.append(t.turns)
            binds.append(t.usage.input)
            binds.append(t.usage.output)
            binds.append(t.usage.cacheRead)
            binds.append(t.usage.cacheWrite5m)
            binds.append(t.cost)
            binds.append(t.last.lastActivityAt)
            binds.append(t.last.lastActivityNs)
            binds.append(t.last.model)
            binds.append(t.last.chainHash)
            binds.append(t.last.systemHash)
            binds.append(id)
            try await connection.query(PostgresQuery(unsafeSQL: """
                UPDATE sessions SET turn_count = turn_count + $1, input_tokens = input_tokens + $2,
                  output_tokens = output_tokens + $3, cache_read_tokens = cache_read_tokens + $4,
                  cache_write_tokens = cache_write_tokens + $5,
                  cost_usd = CASE WHEN $6::double precision IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + $6 END,
                  last_activity_at = GREATEST(last_activity_at, $7), last_activity_ns = GREATEST(last_activity_ns, $8),
                  model = COALESCE($9, model), last_chain_hash = $10, system_hash = COALESCE($11, system_hash)
                WHERE id = $12
                """, binds: binds), logger: logger)
        }
    }

    private static func insert(_ table: String, _ columns: [String], _ rows: [[SQLValue]], suffix: String = "",
                               on connection: PostgresConnection, logger: Logger) async throws {
        guard !rows.isEmpty else { return }
        let perChunk = max(1, 30_000 / columns.count)
        for start in stride(from: 0, to: rows.count, by: perChunk) {
            let (sql, binds) = statement(table, columns, Array(rows[start..<min(start + perChunk, rows.count)]), suffix: suffix)
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        }
    }

    static func statement(_ table: String, _ columns: [String], _ rows: [[SQLValue]], suffix: String) -> (String, PostgresBindings) {
        var binds = PostgresBindings()
        var tuples: [String] = []
        var n = 0
        for row in rows {
            var marks: [String] = []
            for value in row {
                n += 1
                marks.append("$\(n)")
                switch value {
                case .int(let i): binds.append(i)
                case .double(let d): binds.append(d)
                case .text(let s): binds.append(Self.storable(s))
                case .null: binds.appendNull()
                }
            }
            tuples.append("(" + marks.joined(separator: ", ") + ")")
        }
        return ("INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES \(tuples.joined(separator: ", ")) \(suffix)", binds)
    }

    /// PostgreSQL text cannot hold U+0000 (a JSON `\\u0000` in a tool result is enough to send one); it becomes
    /// U+FFFD so the turn is kept rather than refused. SQLite stores it as it is.
    static func storable(_ s: String) -> String {
        s.utf8.contains(0) ? s.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : s
    }

    func loadTracker(into tracker: inout SessionTracker, since: String) async throws {
        var binds = PostgresBindings()
        binds.append(since)
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT id, last_activity_ns, last_chain_hash, system_hash, external_id, prompt_hash
            FROM sessions WHERE last_activity_at >= $1 ORDER BY last_activity_at
            """, binds: binds))
        var sessions: [(String, Int64, String, String?, String?, String?)] = []
        for try await row in rows.decode((String, Int64, String, String?, String?, String?).self) { sessions.append(row) }
        // One pass over those sessions' turns (not one query per session): their cues and the last seq used.
        var cues: [String: (seq: Int, responses: [String], conversations: [String])] = [:]
        for try await (id, seq, response, conversation) in try await client.query(PostgresQuery(unsafeSQL: """
            SELECT session_id, seq, response_id, conversation_hash FROM turns
            WHERE session_id IN (SELECT id FROM sessions WHERE last_activity_at >= $1) ORDER BY id
            """, binds: binds)).decode((String, Int64?, String?, String?).self) {
            var c = cues[id] ?? (0, [], [])
            c.seq = max(c.seq, Int(seq ?? 0))
            if let response { c.responses.append(response) }
            if let conversation { c.conversations.append(conversation) }
            cues[id] = c
        }
        for (id, last, chain, system, external, prompt) in sessions {
            let c = cues[id] ?? (0, [], [])
            tracker.restore(sessionID: id, lastActivity: last, turnCount: c.seq, lastChainHash: chain, systemHash: system,
                            clientID: external, responseIDs: c.responses, conversationHashes: c.conversations,
                            promptHash: prompt)
        }
    }

    func close() async throws {
        runner.cancel()
    }

    nonisolated func isPermanent(_ error: any Error) -> Bool {
        let underlying = (error as? PostgresTransactionError).flatMap { $0.closureError ?? $0.commitError } ?? error
        guard let error = underlying as? PSQLError, error.code == .server,
              let state = error.serverInfo?[.sqlState] else { return false }
        // Class 22 data exception, 23 integrity constraint, 54 program limit (a row too large), P0001 an
        // exception raised by a trigger: the rows, not the server. Everything else (08 connection, 40 rollback,
        // 42501 privilege, 53 resources, 57 shutdown, …) may pass later.
        return state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("54") || state == "P0001"
    }

    func execute(_ sql: String) async throws {
        try await client.query(PostgresQuery(unsafeSQL: sql))
    }

    func texts(_ sql: String) async throws -> [String?] {
        var out: [String?] = []
        for try await value in try await client.query(PostgresQuery(unsafeSQL: "SELECT t.c::text FROM (\(sql)) AS t(c)")).decode(String?.self) {
            out.append(value)
        }
        return out
    }

    func count(_ table: String) async throws -> Int {
        var n: Int64 = 0
        for try await value in try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)")).decode(Int64.self) {
            n = value
        }
        return Int(n)
    }
}
