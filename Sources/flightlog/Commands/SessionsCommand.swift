import ArgumentParser
import Foundation
import Shared

/// `flightlog sessions [--json] [--since DATE] [--agent NAME]`
struct SessionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sessions", abstract: "List recorded sessions, newest first.")

    @OptionGroup var options: DaemonOptions
    @Flag(name: .long, help: "Print JSON for scripts.") var json = false
    @Option(name: .long, help: "Only sessions active since this date (2026-11-24 or an ISO 8601 time).") var since: String?
    @Option(name: .long, help: "Only this agent (claude-code, codex, curl, …).") var agent: String?
    @Option(name: .long, help: "At most this many sessions.") var limit: Int = 100

    func run() async throws {
        let configuration = try await options.loadConfiguration(component: "flightlog")
        let store = try await StoreReader.open(configuration)
        defer { Task { await store.close() } }
        var conditions: [String] = []
        var binds: [String] = []
        if let since {
            conditions.append("last_activity_at >= ?")
            binds.append(since)
        }
        if let agent {
            conditions.append("agent = ?")
            binds.append(agent)
        }
        let sql = """
            SELECT id, agent, provider, model, started_at, last_activity_at, turn_count, input_tokens, output_tokens,
                   cache_read_tokens, cache_write_tokens, cost_usd, intent FROM sessions
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY last_activity_at DESC LIMIT \(max(1, limit))
            """
        let rows = try await store.rows(sql, binds)
        await store.audit(action: "sessions", target: "sessions", detail: "\(rows.count) listed")
        if json {
            print(Output.json(rows))
            return
        }
        guard !rows.isEmpty else {
            print("no sessions recorded yet")
            return
        }
        print(Table.render(
            header: ["SESSION", "AGENT", "MODEL", "STARTED", "TURNS", "IN", "OUT", "CACHE R/W", "COST", "INTENT"],
            rows: rows.map { r in
                [r.text("id"), r.text("agent"), r.text("model"), String(r.text("started_at").prefix(19)), r.text("turn_count"),
                 r.text("input_tokens"), r.text("output_tokens"), "\(r.text("cache_read_tokens"))/\(r.text("cache_write_tokens"))",
                 Output.cost(r["cost_usd"] ?? nil), String(r.text("intent").prefix(40)).replacingOccurrences(of: "\n", with: " ")]
            }))
    }
}

/// `flightlog show SESSION [--json]`: the session's turns, tokens, cost and tool calls.
struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one session's turns and tool calls.")

    @OptionGroup var options: DaemonOptions
    @Flag(name: .long, help: "Print JSON for scripts.") var json = false
    @Argument(help: "The session id (a unique prefix is enough).") var session: String

    func run() async throws {
        let configuration = try await options.loadConfiguration(component: "flightlog")
        let store = try await StoreReader.open(configuration)
        defer { Task { await store.close() } }
        let id = try await SessionLookup.resolve(session, in: store)
        let header = try await store.rows("SELECT * FROM sessions WHERE id = ?", [id])
        let turns = try await store.rows("""
            SELECT id, seq, started_at, endpoint, model, status, outcome, input_tokens, output_tokens, cache_read_tokens,
                   cache_write_tokens, cost_usd, stop_reason, parse_error, capture_id FROM turns WHERE session_id = ? ORDER BY seq, id
            """, [id])
        let calls = try await store.rows("SELECT turn_id, seq, call_id, name, arguments FROM tool_calls WHERE session_id = ? ORDER BY turn_id, seq", [id])
        await store.audit(action: "show", target: id)
        if json {
            print(Output.json(["session": header.first ?? [:], "turns": turns, "tool_calls": calls] as [String: Any]))
            return
        }
        if let s = header.first {
            print("session \(id)  agent \(s.text("agent"))  model \(s.text("model"))  turns \(s.text("turn_count"))  cost \(Output.cost(s["cost_usd"] ?? nil))")
            if !s.text("intent").isEmpty { print("intent: \(s.text("intent").prefix(200))") }
        }
        let callsByTurn = Dictionary(grouping: calls, by: { $0.text("turn_id") })
        print(Table.render(
            header: ["SEQ", "STARTED", "ENDPOINT", "MODEL", "STATUS", "IN", "OUT", "CACHE R/W", "COST", "STOP", "TOOL CALLS"],
            rows: turns.map { t in
                let tools = (callsByTurn[t.text("id")] ?? []).map { "\($0.text("name"))(\($0.text("arguments").prefix(30)))" }
                return [t.text("seq"), String(t.text("started_at").prefix(19)), t.text("endpoint"), t.text("model"), t.text("status"),
                        t.text("input_tokens"), t.text("output_tokens"), "\(t.text("cache_read_tokens"))/\(t.text("cache_write_tokens"))",
                        Output.cost(t["cost_usd"] ?? nil), t.text("stop_reason"), tools.joined(separator: ", ")]
            }))
    }
}

enum SessionLookup {
    /// A full id, or a prefix that names exactly one session.
    static func resolve(_ text: String, in store: StoreReader) async throws -> String {
        let rows = try await store.rows("SELECT id FROM sessions WHERE id = ? OR id LIKE ? ORDER BY id LIMIT 3", [text, text + "%"])
        if let exact = rows.first(where: { $0.text("id") == text }) { return exact.text("id") }
        guard rows.count == 1, let only = rows.first else {
            throw CLIError(rows.isEmpty ? "no session '\(text)'" : "'\(text)' names more than one session; give more of the id")
        }
        return only.text("id")
    }
}

enum Output {
    static func json(_ value: Any) -> String {
        let normalized = normalize(value)
        guard let data = try? JSONSerialization.data(withJSONObject: normalized, options: [.prettyPrinted, .sortedKeys]) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }

    private static func normalize(_ value: Any) -> Any {
        switch value {
        case let rows as [[String: String?]]: return rows.map { normalize($0) }
        case let row as [String: String?]:
            return Dictionary(uniqueKeysWithValues: row.map { key, value in (key, value.map { typed($0, column: key) } ?? NSNull()) })
        case let dict as [String: Any]: return dict.mapValues { normalize($0) }
        default: return value
        }
    }

    /// Counts, tokens, sizes, times and costs are numbers in JSON (the store reads every column as text so
    /// both backends print alike); everything else stays a string.
    private static func typed(_ value: String, column: String) -> Any {
        let numeric = ["_count", "_tokens", "_usd", "_ms", "_bytes", "_ns"].contains { column.hasSuffix($0) }
            || ["seq", "status", "turn_id", "client_pid", "is_error", "is_model_turn", "is_prewarm", "streamed"].contains(column)
        guard numeric else { return value }
        if let int = Int64(value) { return NSNumber(value: int) }
        if let double = Double(value), double.isFinite { return NSNumber(value: double) }
        return value
    }

    static func cost(_ value: String?) -> String {
        guard let value, let d = Double(value) else { return "-" }
        return String(format: "$%.4f", d)
    }
}

extension Dictionary where Key == String, Value == String? {
    func text(_ key: String) -> String { (self[key] ?? nil) ?? "" }
}
