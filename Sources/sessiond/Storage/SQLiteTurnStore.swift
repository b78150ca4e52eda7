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
            let now = Timestamp.now()
            _ = try await insert("sessions", TurnRows.sessionColumns, TurnRows.sessions(turns), suffix: "ON CONFLICT(id) DO NOTHING")
            // RETURNING yields no row for a capture id already stored: a replay then adds no tool calls,
            // anomalies or session totals a second time.
            let columns = Array(Set(turns.flatMap { $0.values.keys })).sorted()
            var ids: [String: Int64] = [:]
            for row in try await insert("turns", columns, turns.map { t in columns.map { t.values[$0] ?? .null } },
                                        suffix: "ON CONFLICT(capture_id) DO NOTHING RETURNING id, capture_id") {
                if let id = row.column("id")?.integer, let capture = row.column("capture_id")?.string { ids[capture] = Int64(id) }
            }
            let children = TurnRows.children(turns, ids: ids, at: now)
            _ = try await insert("tool_calls", TurnRows.toolCallColumns, children.toolCalls)
            _ = try await insert("tool_results", TurnRows.toolResultColumns, children.toolResults)
            _ = try await insert("anomaly_events", TurnRows.anomalyColumns, children.anomalies)
            _ = try await insert("dead_letters", TurnRows.deadLetterColumns, TurnRows.deadLetters(deadLetters, at: now))
            for total in TurnRows.totals(turns.filter { ids[$0.captureID] != nil }) {
                // Columns of TurnRows.totalColumns; the session id first, bound last.
                _ = try await connection.query(
                    """
                    UPDATE sessions SET turn_count = turn_count + ?2, input_tokens = input_tokens + ?3,
                      output_tokens = output_tokens + ?4, cache_read_tokens = cache_read_tokens + ?5,
                      cache_write_tokens = cache_write_tokens + ?6,
                      cost_usd = CASE WHEN ?7 IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + ?7 END,
                      last_activity_at = MAX(last_activity_at, ?8), last_activity_ns = MAX(last_activity_ns, ?9),
                      model = COALESCE(?10, model), last_chain_hash = ?11, system_hash = COALESCE(?12, system_hash),
                      intent = COALESCE(NULLIF(intent, ''), ?13), prompt_hash = COALESCE(NULLIF(prompt_hash, ''), ?14)
                    WHERE id = ?1
                    """, total.map(bind))
            }
            _ = try await connection.query("COMMIT", [])
        } catch {
            _ = try? await connection.query("ROLLBACK", [])
            throw error
        }
    }

    /// One multi-row INSERT per chunk (under SQLite's 32,766 bound variables); returns what RETURNING yields.
    private func insert(_ table: String, _ columns: [String], _ rows: [[SQLValue]], suffix: String = "") async throws -> [SQLiteRow] {
        guard !rows.isEmpty, !columns.isEmpty else { return [] }
        let perStatement = max(1, 30_000 / columns.count)
        let tuple = "(" + Array(repeating: "?", count: columns.count).joined(separator: ", ") + ")"
        var returned: [SQLiteRow] = []
        for start in stride(from: 0, to: rows.count, by: perStatement) {
            let chunk = rows[start..<min(start + perStatement, rows.count)]
            let sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
                + Array(repeating: tuple, count: chunk.count).joined(separator: ", ") + " " + suffix
            returned += try await connection.query(sql, chunk.flatMap { $0.map(bind) })
        }
        return returned
    }

    func loadTracker(into tracker: inout SessionTracker, since: String) async throws {
        let sessions = try await connection.query(
            "SELECT id, last_activity_ns, last_chain_hash, system_hash, external_id, prompt_hash FROM sessions WHERE last_activity_at >= ? ORDER BY last_activity_at",
            [.text(since)])
        // One pass over those sessions' turns (not one query per session): their cues and the last seq used.
        var cues: [String: (seq: Int, responses: [String], conversations: [String])] = [:]
        for t in try await connection.query(
            """
            SELECT session_id, seq, response_id,
              CASE WHEN is_model_turn <> 0 THEN conversation_hash END AS conversation_hash FROM turns
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
        let ms = Int((nanoseconds / 1_000_000) % 1000)
        // By hand rather than String(format:), which was a visible share of a turn's CPU time.
        var out: [UInt8] = []
        out.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var v = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8((v / divisor) % 10))
                v %= divisor
                divisor /= 10
            }
        }
        digits(Int(tm.tm_year) + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(Int(tm.tm_mon) + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(Int(tm.tm_mday), 2)
        out.append(UInt8(ascii: "T"))
        digits(Int(tm.tm_hour), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(tm.tm_min), 2)
        out.append(UInt8(ascii: ":"))
        digits(Int(tm.tm_sec), 2)
        out.append(UInt8(ascii: "."))
        digits(ms, 3)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    static func now() -> String {
        string(nanoseconds: Int64(Date().timeIntervalSince1970 * 1_000_000_000))
    }
}
