import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// PostgreSQL through postgres-nio's pooled client. A batch is one transaction of a handful of statements:
/// one INSERT per table for all the batch's rows (as one JSON parameter, see ``PostgresRows``) and one UPDATE
/// for all the sessions it touched.
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
        let store = PostgresTurnStore(client: PostgresClient(configuration: configuration, backgroundLogger: logger),
                                      logger: logger)
        // Fail fast with a clear error when the server is not there: one connection of our own, closed again.
        // (A query through the pool before its run() has started earns a warning; this also gives run() time.)
        do {
            let probe = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(),
                configuration: .init(host: host, port: components.port ?? 5432, username: user, password: components.password,
                                     database: database.isEmpty ? user : database, tls: .disable),
                id: 0, logger: logger
            ).get()
            try await probe.close()
        } catch {
            try? await store.close()
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

    /// From this many turns a batch's turns and tool calls go by COPY (ids drawn from the sequence first)
    /// rather than by INSERT: about twice the rows per second, the part of a batch that is most of its cost.
    static let copyFrom = 16

    func write(_ turns: [TurnWrite], deadLetters: [DeadLetter]) async throws {
        // COPY cannot skip a capture id already stored: it fails on the unique index, the transaction rolls
        // back, and the batch is written again with INSERT … ON CONFLICT DO NOTHING, which skips it. (The
        // processor checks first, so this is a replay racing another writer, or a caller that did not.)
        if turns.count >= Self.copyFrom {
            do {
                return try await write(turns, deadLetters: deadLetters, copy: true)
            } catch let error where Self.sqlState(of: error) == "23505" {
                logger.debug("a capture id of the batch is already stored; writing it row by row", metadata: [
                    "turns": "\(turns.count)"])
            }
        }
        try await write(turns, deadLetters: deadLetters, copy: false)
    }

    private func write(_ turns: [TurnWrite], deadLetters: [DeadLetter], copy: Bool) async throws {
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            let now = Timestamp.now()
            try await Self.insert("sessions", TurnRows.sessionColumns, TurnRows.sessions(turns),
                                  suffix: "ON CONFLICT (id) DO NOTHING", on: connection, logger: logger)
            let ids = copy ? try await Self.copyTurns(turns, on: connection, logger: logger)
                           : try await Self.insertTurns(turns, on: connection, logger: logger)
            let children = TurnRows.children(turns, ids: ids, at: now)
            if copy {
                try await Self.copy("tool_calls", TurnRows.toolCallColumns, children.toolCalls, on: connection, logger: logger)
            } else {
                try await Self.insert("tool_calls", TurnRows.toolCallColumns, children.toolCalls, on: connection, logger: logger)
            }
            try await Self.insert("tool_results", TurnRows.toolResultColumns, children.toolResults, on: connection,
                                  logger: logger)
            try await Self.insert("anomaly_events", TurnRows.anomalyColumns, children.anomalies, on: connection,
                                  logger: logger)
            try await Self.insert("dead_letters", TurnRows.deadLetterColumns, TurnRows.deadLetters(deadLetters, at: now),
                                  on: connection, logger: logger)
            try await Self.updateSessions(TurnRows.totals(turns.filter { ids[$0.captureID] != nil }), on: connection,
                                          logger: logger)
        }
    }

    /// Draws the turns' ids from their sequence, then COPYs the rows with them.
    private static func copyTurns(_ turns: [TurnWrite], on connection: PostgresConnection, logger: Logger) async throws
        -> [String: Int64] {
        var binds = PostgresBindings()
        binds.append(Int64(turns.count))
        var ids: [Int64] = []
        for try await id in try await connection.query(PostgresQuery(
            unsafeSQL: "SELECT nextval(pg_get_serial_sequence('turns', 'id')) FROM generate_series(1, $1)", binds: binds),
            logger: logger
        ).decode(Int64.self) {
            ids.append(id)
        }
        guard ids.count == turns.count else {
            throw SessiondError(.database, "the turns id sequence gave \(ids.count) ids for \(turns.count) turns")
        }
        let columns = Array(Set(turns.flatMap { $0.values.keys })).sorted()
        try await copy("turns", ["id"] + columns,
                       zip(ids, turns).map { id, turn in [.int(id)] + columns.map { turn.values[$0] ?? .null } },
                       on: connection, logger: logger)
        return Dictionary(zip(turns.map(\.captureID), ids), uniquingKeysWith: { first, _ in first })
    }

    /// `COPY table (columns) FROM STDIN` in text format, in chunks of about a megabyte.
    private static func copy(_ table: String, _ columns: [String], _ rows: [[SQLValue]], on connection: PostgresConnection,
                             logger: Logger) async throws {
        guard !rows.isEmpty else { return }
        try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
            var buffer = ByteBuffer()
            for row in rows {
                PostgresRows.appendCopyRow(row, to: &buffer)
                if buffer.readableBytes > 1 << 20 {
                    try await writer.write(buffer)
                    buffer.clear()
                }
            }
            if buffer.readableBytes > 0 { try await writer.write(buffer) }
        }
    }

    /// Inserts the turns (skipping any already there) and returns their ids by capture id.
    private static func insertTurns(_ turns: [TurnWrite], on connection: PostgresConnection, logger: Logger) async throws -> [String: Int64] {
        guard !turns.isEmpty else { return [:] }
        let columns = Array(Set(turns.flatMap { $0.values.keys })).sorted()
        let rows = turns.map { t in columns.map { t.values[$0] ?? .null } }
        var ids: [String: Int64] = [:]
        for try await (id, captureID) in try await connection.query(
            insertStatement("turns", columns, rows, suffix: "ON CONFLICT (capture_id) DO NOTHING RETURNING id, capture_id"),
            logger: logger
        ).decode((Int64, String).self) {
            ids[captureID] = id
        }
        return ids
    }

    /// Adds each touched session's totals (``TurnRows/totals(_:)``) in one statement.
    private static func updateSessions(_ totals: [[SQLValue]], on connection: PostgresConnection, logger: Logger) async throws {
        guard !totals.isEmpty else { return }
        var binds = PostgresBindings()
        binds.append(PostgresRows.json(columns: TurnRows.totalColumns, rows: totals))
        try await connection.query(PostgresQuery(unsafeSQL: """
            UPDATE sessions AS s SET turn_count = s.turn_count + v.turns, input_tokens = s.input_tokens + v.input,
              output_tokens = s.output_tokens + v.output, cache_read_tokens = s.cache_read_tokens + v.cache_read,
              cache_write_tokens = s.cache_write_tokens + v.cache_write,
              cost_usd = CASE WHEN v.cost IS NULL THEN s.cost_usd ELSE COALESCE(s.cost_usd, 0) + v.cost END,
              last_activity_at = GREATEST(s.last_activity_at, v.last_at), last_activity_ns = GREATEST(s.last_activity_ns, v.last_ns),
              model = COALESCE(v.model, s.model), last_chain_hash = v.chain, system_hash = COALESCE(v.system_hash, s.system_hash),
              intent = COALESCE(NULLIF(s.intent, ''), v.intent), prompt_hash = COALESCE(NULLIF(s.prompt_hash, ''), v.prompt_hash)
            FROM json_to_recordset($1::json) AS v(id text, turns bigint, input bigint, output bigint, cache_read bigint,
              cache_write bigint, cost double precision, last_at text, last_ns bigint, model text, chain text, system_hash text,
              intent text, prompt_hash text)
            WHERE s.id = v.id
            """, binds: binds), logger: logger)
    }

    private static func insert(_ table: String, _ columns: [String], _ rows: [[SQLValue]], suffix: String = "",
                               on connection: PostgresConnection, logger: Logger) async throws {
        guard !rows.isEmpty else { return }
        try await connection.query(insertStatement(table, columns, rows, suffix: suffix), logger: logger)
    }

    /// `INSERT … SELECT` from the rows as one JSON parameter, typed by the table's own row type.
    static func insertStatement(_ table: String, _ columns: [String], _ rows: [[SQLValue]], suffix: String) -> PostgresQuery {
        var binds = PostgresBindings()
        binds.append(PostgresRows.json(columns: columns, rows: rows))
        let list = columns.joined(separator: ", ")
        return PostgresQuery(
            unsafeSQL: "INSERT INTO \(table) (\(list)) SELECT \(list) FROM json_populate_recordset(NULL::\(table), $1::json) \(suffix)",
            binds: binds)
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
            SELECT session_id, seq, response_id,
              CASE WHEN is_model_turn <> 0 THEN conversation_hash END AS conversation_hash FROM turns
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

    /// The SQLSTATE of a server error, looking inside a failed transaction.
    static func sqlState(of error: any Error) -> String? {
        let underlying = (error as? PostgresTransactionError).flatMap { $0.closureError ?? $0.commitError } ?? error
        guard let error = underlying as? PSQLError, error.code == .server else { return nil }
        return error.serverInfo?[.sqlState]
    }

    nonisolated func isPermanent(_ error: any Error) -> Bool {
        guard let state = Self.sqlState(of: error) else { return false }
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
