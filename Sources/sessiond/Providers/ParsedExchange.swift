import Foundation

/// What sessiond understood of one exchange, whatever the provider. Token fields follow DESIGN.md:
/// `inputTokens` is uncached input only; cache reads and writes are their own kinds; `outputTokens`
/// includes reasoning.
struct ParsedExchange: Equatable {
    var provider = "unknown"
    var endpoint = "unknown"
    var model: String?
    var isModelTurn = false
    /// A prewarm (`generate: false`) or other call that must not count as a model turn.
    var isPrewarm = false
    var streamed = false
    var usage = TokenUsage()
    /// The provider's own usage object, as sent.
    var usageJSON: String?
    var stopReason: String?
    var responseID: String?
    var previousResponseID: String?
    var toolCalls: [ToolCall] = []
    var toolResults: [ToolResult] = []
    var systemPrompt: String?
    var firstUserPrompt: String?
    /// Fingerprints of the request's conversation messages, in order (for continuity).
    var messageFingerprints: [String] = []
    /// The client's own session id, where it sends one.
    var clientSessionID: String?
    var parseErrors: [String] = []
    /// Text of tool results, for the prompt-injection check.
    var toolResultTexts: [String] { toolResults.map(\.content) }
}

struct TokenUsage: Equatable {
    var input: Int64 = 0
    var output: Int64 = 0
    var cacheRead: Int64 = 0
    var cacheWrite5m: Int64 = 0
    var cacheWrite1h: Int64 = 0
    var reasoning: Int64 = 0
    var cacheWrite: Int64 { cacheWrite5m + cacheWrite1h }
    var isEmpty: Bool { input == 0 && output == 0 && cacheRead == 0 && cacheWrite == 0 }
}

struct ToolCall: Equatable {
    var callID: String
    var name: String
    var arguments: String
    /// `function`, `tool_use`, `custom_tool_call`, …
    var kind: String
}

struct ToolResult: Equatable {
    var callID: String
    var isError: Bool
    var content: String
}

/// JSON access helpers for provider payloads parsed with JSONSerialization.
enum JSON {
    static func object(_ bytes: [UInt8]) -> [String: Any]? {
        guard !bytes.isEmpty else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) as? [String: Any]
    }

    static func object(_ text: String) -> [String: Any]? {
        object(Array(text.utf8))
    }

    static func int(_ value: Any?) -> Int64 {
        switch value {
        case let n as NSNumber: return n.int64Value
        case let i as Int: return Int64(i)
        default: return 0
        }
    }

    static func string(_ value: Any?) -> String? { value as? String }

    static func text(_ value: Any?) -> String {
        guard let value else { return "" }
        if let s = value as? String { return s }
        if value is [String: Any] || value is [Any], let text = JSONText.write(value) { return text }
        if JSONSerialization.isValidJSONObject(value),
           let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) {
            return String(decoding: data, as: UTF8.self)
        }
        return "\(value)"
    }

    /// Plain text of a content field that is a string or a list of blocks with `text`.
    static func contentText(_ value: Any?) -> String {
        if let s = value as? String { return s }
        guard let blocks = value as? [Any] else { return "" }
        return blocks.compactMap { block -> String? in
            guard let b = block as? [String: Any] else { return block as? String }
            return (b["text"] as? String) ?? (b["input_text"] as? String)
        }.joined(separator: "\n")
    }
}
