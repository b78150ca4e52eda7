import Foundation
import Shared

/// What a provider parser reads: the exchange's request and response as stored.
struct ExchangeInput {
    var host: String
    var path: String
    var method: String
    var requestHeaders: [String: String]
    var responseHeaders: [String: String]
    var status: Int?
    var request: [UInt8]
    var response: [UInt8]
    var webSocketMessages: [(direction: WebSocketDirection, payload: [UInt8])]
    /// The record says the response was cut short (client abort, upstream error, gateway lost).
    var incomplete: Bool

    /// The response is Server-Sent Events: by its content type, or, when no response head was recorded (or a
    /// proxy dropped the header), by a body that starts like one.
    var isEventStream: Bool {
        if let type = responseHeaders["content-type"]?.lowercased() { return type.hasPrefix("text/event-stream") }
        let start = response.prefix(16).drop { $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }
        return ["event:", "data:", ":"].contains { start.starts(with: $0.utf8) }
    }

    /// The host is `domain` or one of its subdomains (`api.anthropic.com` is `anthropic.com`; `notanthropic.com`
    /// is not).
    func hostIs(_ domain: String) -> Bool {
        host == domain || host.hasSuffix("." + domain)
    }

    /// The path without its query string.
    var route: String { String(path.split(separator: "?", maxSplits: 1).first ?? "") }
}

/// A provider's parser: recognises its exchanges and reads them.
protocol ProviderParser: Sendable {
    func accepts(_ input: ExchangeInput) -> Bool
    func parse(_ input: ExchangeInput) -> [ParsedExchange]
}

/// Picks the parser by host and path; anything unrecognised is provider `unknown`.
enum ProviderRouter {
    static let parsers: [any ProviderParser] = [AnthropicParser(), OpenAIParser(), GeminiParser()]

    static func parse(_ input: ExchangeInput) -> [ParsedExchange] {
        for parser in parsers where parser.accepts(input) {
            return parser.parse(input)
        }
        var unknown = ParsedExchange()
        unknown.endpoint = input.route
        return [unknown]
    }
}

/// Shared conversation helpers.
enum Conversation {
    /// Agents inject reminders into user turns; they are not the user's intent and differ between turns.
    static func stripInjected(_ text: String) -> String {
        var out = text
        // Hot (every message of every request): most text holds no tag at all.
        if containsByte(text, UInt8(ascii: "<")) {
            for tag in ["system-reminder", "command-message", "local-command-stdout"] {
                while let open = out.range(of: "<\(tag)>"),
                      let close = out.range(of: "</\(tag)>", range: open.upperBound..<out.endIndex) {
                    out.removeSubrange(open.lowerBound..<close.upperBound)
                }
            }
        }
        return trimmed(out)
    }

    /// The UTF-8 view's generic `contains` was a visible share of a record's CPU time; memchr on its storage.
    private static func containsByte(_ text: String, _ byte: UInt8) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { bytes in
            guard let base = bytes.baseAddress else { return false }
            return memchr(base, Int32(byte), bytes.count) != nil
        } ?? text.utf8.contains(byte)
    }

    /// Without leading and trailing whitespace and newlines.
    static func trimmed(_ text: String) -> String {
        // Most text starts and ends with a visible ASCII byte: then its first and last characters are that byte
        // alone (no grapheme cluster starts with a whitespace scalar and ends with one) and it has nothing to trim.
        if let first = text.utf8.first, let last = text.utf8.last, (0x21...0x7e).contains(first), (0x21...0x7e).contains(last) {
            return text
        }
        guard let first = text.firstIndex(where: { !$0.isWhitespace }),
              let last = text.lastIndex(where: { !$0.isWhitespace }) else { return "" }
        if first == text.startIndex && text.index(after: last) == text.endIndex { return text }
        return String(text[first...last])
    }

    /// A message's identity for continuity: its role and the first 4 KiB of its text (UTF-8 bytes, not
    /// characters: counting graphemes of every message was a visible share of a turn's CPU time).
    static func fingerprint(role: String, text: String) -> String {
        let stripped = stripInjected(text)
        guard stripped.utf8.count > 4096 else { return role + "|" + stripped }
        return "\(role)|" + String(decoding: stripped.utf8.prefix(4096), as: UTF8.self)
    }
}
