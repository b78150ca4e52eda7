import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO

/// The embedded default: one SQLite file in WAL mode (`synchronous=FULL`, so a commit is durable when it
/// returns and a record may be acknowledged). Queries run on a thread pool, never on an event loop.
actor SQLiteTurnStore: TurnStore {
    private let connection: SQLiteConnection
    private let path: String

    static func open(path: String, logger: Logger) async throws -> SQLiteTurnStore {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        let connection = try await SQLiteConnection.open(storage: .file(path: path), threadPool: .singleton,
                                                         logger: logger, on: MultiThreadedEventLoopGroup.singleton.any())
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000",
                       "PRAGMA foreign_keys=ON"] {
            _ = try await connection.query(pragma, [])
        }
        return SQLiteTurnStore(connection: connection, path: path)
    }

    private init(connection: SQLiteConnection, path: String) {
        self.connection = connection
        self.path = path
    }

    func migrate() async throws {
        _ = try await connection.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)", [])
        let applied = Set(try await connection.query("SELECT version FROM schema_migrations", []).compactMap {
            $0.column("version")?.integer.map { Int($0) }
        })
        for migration in Schema.migrations(.sqlite) where !applied.contains(migration.version) {
            _ = try await connection.query("BEGIN IMMEDIATE", [])
            do {
                for statement in migration.statements { _ = try await connection.query(statement, []) }
                _ = try await connection.query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                               [.integer(SQLiteInt64(migration.version)), .text(Timestamp.now())])
                _ = try await connection.query("COMMIT", [])
            } catch {
                _ = try? await connection.query("ROLLBACK", [])
                throw error
            }
        }
    }

    func existing(_ captureIDs: [String]) async throws -> Set<String> {
        guard !captureIDs.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: captureIDs.count).joined(separator: ",")
        let rows = try await connection.query("SELECT capture_id FROM turns WHERE capture_id IN (\(marks))",
                                              captureIDs.map { .text($0) })
        return Set(rows.compactMap { $0.column("capture_id")?.string })
    }

    func write(_ turns: [TurnWrite], deadLetters: [DeadLetter]) async throws {
        _ = try await connection.query("BEGIN IMMEDIATE", [])
        do {
            for turn in turns { try await write(turn) }
            for letter in deadLetters {
                _ = try await connection.query(
                    "INSERT INTO dead_letters (capture_id, delivery_seq, error, record, at) VALUES (?, ?, ?, ?, ?)",
                    [bind(.optional(letter.captureID)), .integer(SQLiteInt64(letter.deliverySeq)), .text(letter.error),
                     .text(letter.record), .text(Timestamp.now())])
            }
            _ = try await connection.query("COMMIT", [])
        } catch {
            _ = try? await connection.query("ROLLBACK", [])
            throw error
        }
    }

    private func write(_ turn: TurnWrite) async throws {
        if let s = turn.newSession {
            _ = try await connection.query(
                """
                INSERT INTO sessions (id, agent, client, provider, model, external_id, started_at, last_activity_at,
                  intent, git_context, prompt_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING
                """,
                [.text(s.id), bind(.optional(s.agent)), bind(.optional(s.client)), .text(s.provider), bind(.optional(s.model)),
                 bind(.optional(s.externalID)), .text(s.startedAt), .text(s.startedAt), bind(.optional(s.intent)),
                 bind(.optional(s.gitContext)), bind(.optional(s.promptHash))])
        }
        let columns = turn.values.keys.sorted()
        // RETURNING yields no row when the capture id is already stored: a replay then adds no tool calls,
        // anomalies or session totals a second time.
        guard let turnID = try await connection.query(
            "INSERT INTO turns (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", "))) ON CONFLICT(capture_id) DO NOTHING RETURNING id",
            columns.map { bind(turn.values[$0] ?? .null) }).first?.column("id")?.integer else { return }
        for (i, call) in turn.toolCalls.enumerated() {
            _ = try await connection.query(
                "INSERT INTO tool_calls (turn_id, session_id, seq, call_id, name, arguments, kind) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [.integer(turnID), bind(.optional(turn.sessionID)), .integer(SQLiteInt64(i + 1)), .text(call.callID),
                 .text(call.name), .text(call.arguments), .text(call.kind)])
        }
        for result in turn.toolResults {
            _ = try await connection.query(
                "INSERT INTO tool_results (turn_id, session_id, call_id, is_error, content) VALUES (?, ?, ?, ?, ?)",
                [.integer(turnID), bind(.optional(turn.sessionID)), .text(result.callID), .integer(result.isError ? 1 : 0),
                 .text(String(result.content.prefix(65536)))])
        }
        for anomaly in turn.anomalies {
            _ = try await connection.query(
                "INSERT INTO anomaly_events (turn_id, session_id, kind, rule, detail, detected_at) VALUES (?, ?, ?, ?, ?, ?)",
                [.integer(turnID), bind(.optional(turn.sessionID)), .text(anomaly.kind), .text(anomaly.rule),
                 .text(anomaly.detail), .text(Timestamp.now())])
        }
        if let sessionID = turn.sessionID, let d = turn.sessionDelta {
            _ = try await connection.query(
                """
                UPDATE sessions SET turn_count = turn_count + ?, input_tokens = input_tokens + ?,
                  output_tokens = output_tokens + ?, cache_read_tokens = cache_read_tokens + ?,
                  cache_write_tokens = cache_write_tokens + ?,
                  cost_usd = CASE WHEN ? IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + ? END,
                  last_activity_at = MAX(last_activity_at, ?), last_activity_ns = MAX(last_activity_ns, ?),
                  model = COALESCE(?, model), last_chain_hash = ?, system_hash = COALESCE(?, system_hash)
                WHERE id = ?
                """,
                [.integer(d.countsAsTurn ? 1 : 0),
                 .integer(SQLiteInt64(d.usage.input)), .integer(SQLiteInt64(d.usage.output)), .integer(SQLiteInt64(d.usage.cacheRead)),
                 .integer(SQLiteInt64(d.usage.cacheWrite)),
                 bind(.optional(d.cost)), bind(.optional(d.cost)), .text(d.lastActivityAt), .integer(SQLiteInt64(d.lastActivityNs)),
                 bind(.optional(d.model)), .text(d.chainHash), bind(.optional(d.systemHash)), .text(sessionID)])
        }
    }

    func loadTracker(into tracker: inout SessionTracker, since: String) async throws {
        let sessions = try await connection.query(
            "SELECT id, last_activity_ns, last_chain_hash, system_hash, external_id, prompt_hash FROM sessions WHERE last_activity_at >= ? ORDER BY last_activity_at",
            [.text(since)])
        // One pass over those sessions' turns (not one query per session): their cues and the last seq used.
        var cues: [String: (seq: Int, responses: [String], conversations: [String])] = [:]
        for t in try await connection.query(
            """
            SELECT session_id, seq, response_id, conversation_hash FROM turns
            WHERE session_id IN (SELECT id FROM sessions WHERE last_activity_at >= ?) ORDER BY id
            """, [.text(since)]) {
            guard let id = t.column("session_id")?.string else { continue }
            var c = cues[id] ?? (0, [], [])
            c.seq = max(c.seq, Int(t.column("seq")?.integer ?? 0))
            if let r = t.column("response_id")?.string { c.responses.append(r) }
            if let h = t.column("conversation_hash")?.string { c.conversations.append(h) }
            cues[id] = c
        }
        for s in sessions {
            guard let id = s.column("id")?.string else { continue }
            let c = cues[id] ?? (0, [], [])
            tracker.restore(sessionID: id, lastActivity: Int64(s.column("last_activity_ns")?.integer ?? 0),
                            turnCount: c.seq, lastChainHash: s.column("last_chain_hash")?.string ?? "",
                            systemHash: s.column("system_hash")?.string, clientID: s.column("external_id")?.string,
                            responseIDs: c.responses, conversationHashes: c.conversations,
                            promptHash: s.column("prompt_hash")?.string)
        }
    }

    func close() async throws {
        try await connection.close()
    }

    nonisolated func isPermanent(_ error: any Error) -> Bool {
        guard let error = error as? SQLiteError else { return false }
        switch error.reason {
        case .constraint, .constraintCheckFailed, .constraintForeignKeyFailed, .constraintNotNullFailed,
             .constraintPrimaryKeyFailed, .constraintTriggerFailed, .constraintUniqueFailed, .constraintUniqueRowIDFailed,
             .constraintStrictDataTypeFailed, .constraintUserFunctionFailed, .tooBig, .mismatch, .range:
            return true
        default:
            // busy, locked, full, I/O, read-only, permissions: the database, not the record.
            return false
        }
    }

    func execute(_ sql: String) async throws {
        _ = try await connection.query(sql, [])
    }

    func texts(_ sql: String) async throws -> [String?] {
        try await connection.query(sql, []).map { row in
            guard let value = row.columns.first?.data else { return nil }
            switch value {
            case .text(let s): return s
            case .integer(let i): return String(i)
            case .float(let d): return String(d)
            case .blob(let b): return String(buffer: b)
            case .null: return nil
            }
        }
    }

    func count(_ table: String) async throws -> Int {
        Int(try await connection.query("SELECT count(*) AS n FROM \(table)", []).first?.column("n")?.integer ?? 0)
    }

    private func bind(_ value: SQLValue) -> SQLiteData {
        switch value {
        case .int(let i): .integer(SQLiteInt64(i))
        case .double(let d): .float(d)
        case .text(let s): .text(s)
        case .null: .null
        }
    }
}

/// ISO 8601 UTC with milliseconds: sortable text, the same in both backends.
enum Timestamp {
    static func string(nanoseconds: Int64) -> String {
        var t = time_t(nanoseconds / 1_000_000_000)
        var tm = tm()
        gmtime_r(&t, &tm)
        let ms = (nanoseconds / 1_000_000) % 1000
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, ms)
    }

    static func now() -> String {
        string(nanoseconds: Int64(Date().timeIntervalSince1970 * 1_000_000_000))
    }
}
