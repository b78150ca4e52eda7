/// The rows a batch writes besides the turns themselves, built once for both backends: new sessions, tool
/// calls, tool results, anomalies, dead letters, and each touched session's running totals.
enum TurnRows {
    static let sessionColumns = ["id", "agent", "client", "provider", "model", "external_id", "started_at",
                                 "last_activity_at", "intent", "git_context", "prompt_hash"]
    static let toolCallColumns = ["turn_id", "session_id", "seq", "call_id", "name", "arguments", "kind"]
    static let toolResultColumns = ["turn_id", "session_id", "call_id", "is_error", "content"]
    static let anomalyColumns = ["turn_id", "session_id", "kind", "rule", "detail", "detected_at"]
    static let deadLetterColumns = ["capture_id", "delivery_seq", "error", "record", "at"]
    /// What ``totals(_:)`` yields per session, in this order.
    static let totalColumns = ["id", "turns", "input", "output", "cache_read", "cache_write", "cost", "last_at", "last_ns",
                               "model", "chain", "system_hash", "intent", "prompt_hash"]

    /// A tool result's content is kept up to this many characters.
    static let toolResultLimit = 65536

    static func sessions(_ turns: [TurnWrite]) -> [[SQLValue]] {
        turns.compactMap(\.newSession).map { s in
            [.text(s.id), .optional(s.agent), .optional(s.client), .text(s.provider), .optional(s.model),
             .optional(s.externalID), .text(s.startedAt), .text(s.startedAt), .optional(s.intent), .optional(s.gitContext),
             .optional(s.promptHash)]
        }
    }

    /// The turns' tool calls, results and anomalies, for the turns that were inserted (`ids` by capture id).
    static func children(_ turns: [TurnWrite], ids: [String: Int64], at now: String)
        -> (toolCalls: [[SQLValue]], toolResults: [[SQLValue]], anomalies: [[SQLValue]]) {
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
                                .text(String(r.content.prefix(toolResultLimit)))])
            }
            for a in turn.anomalies {
                anomalies.append([.int(id), .optional(turn.sessionID), .text(a.kind), .text(a.rule), .text(a.detail),
                                  .text(now)])
            }
        }
        return (calls, results, anomalies)
    }

    static func deadLetters(_ letters: [DeadLetter], at now: String) -> [[SQLValue]] {
        letters.map { [.optional($0.captureID), .int(Int64($0.deliverySeq)), .text($0.error), .text($0.record), .text(now)] }
    }

    /// One row per session the (inserted) turns touch, in first-touched order: what to add to its totals and
    /// its latest activity, model, chain link and system prompt hash.
    static func totals(_ turns: [TurnWrite]) -> [[SQLValue]] {
        var order: [String] = []
        var sums: [String: (turns: Int64, usage: TokenUsage, cost: Double?, last: SessionDelta)] = [:]
        for turn in turns {
            guard let id = turn.sessionID, let d = turn.sessionDelta else { continue }
            var t = sums[id] ?? {
                order.append(id)
                return (0, TokenUsage(), nil, d)
            }()
            t.turns += d.countsAsTurn ? 1 : 0
            t.usage.input += d.usage.input
            t.usage.output += d.usage.output
            t.usage.cacheRead += d.usage.cacheRead
            t.usage.cacheWrite5m += d.usage.cacheWrite
            if let cost = d.cost { t.cost = (t.cost ?? 0) + cost }
            // The batch's first intent stands (the store keeps a session's existing one).
            let first = (intent: t.last.intent ?? d.intent, promptHash: t.last.promptHash ?? d.promptHash)
            t.last = d
            t.last.intent = first.intent
            t.last.promptHash = first.promptHash
            sums[id] = t
        }
        return order.compactMap { id in
            sums[id].map { t in
                [.text(id), .int(t.turns), .int(t.usage.input), .int(t.usage.output), .int(t.usage.cacheRead),
                 .int(t.usage.cacheWrite5m), .optional(t.cost), .text(t.last.lastActivityAt), .int(t.last.lastActivityNs),
                 .optional(t.last.model), .text(t.last.chainHash), .optional(t.last.systemHash),
                 .optional(t.last.intent), .optional(t.last.promptHash)]
            }
        }
    }
}
