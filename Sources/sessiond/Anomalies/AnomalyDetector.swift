import Foundation
import Shared

/// Finds what an operator should look at: secrets sent upstream, prompt-injection cues in tool results,
/// and a system prompt that changed within a session.
struct AnomalyDetector {
    struct Anomaly: Equatable {
        var kind: String
        var rule: String
        var detail: String
    }

    static let injectionPhrases = [
        "ignore previous instructions", "ignore all previous instructions", "ignore the above", "disregard previous",
        "disregard all prior", "forget your instructions", "new instructions:", "you are now", "override your system prompt",
        "reveal your system prompt",
    ]

    private let scanner = SecretScanner()

    /// Secrets in what was sent upstream: rules the gateway redacted, and anything still present.
    func secrets(request: [UInt8], redactedRules: [String]) -> [Anomaly] {
        var found = redactedRules.map { Anomaly(kind: "secret_exposure", rule: $0, detail: "redacted by the gateway") }
        for match in scanner.scan(request, final: true).matches where !found.contains(where: { $0.rule == match.rule }) {
            found.append(Anomaly(kind: "secret_exposure", rule: match.rule, detail: "present in the stored request"))
        }
        if let assignment = Self.highEntropyAssignment(in: request) {
            found.append(Anomaly(kind: "secret_exposure", rule: "high_entropy_assignment", detail: assignment))
        }
        return found
    }

    static let assignmentKeys = ["api_key", "apikey", "secret", "token", "password", "passwd", "access_key", "private_key"]
        .map { Array($0.utf8) }

    /// `password = "…"`-style assignments whose value looks random (Shannon entropy over 4 bits/char). Works on
    /// the bytes, ASCII case-insensitively, in one pass: requests are large and may hold anything.
    static func highEntropyAssignment(in bytes: [UInt8]) -> String? {
        let n = min(bytes.count, 4 * 1024 * 1024)
        var i = 0
        while i < n {
            // Most bytes cannot start a key: one table lookup instead of eight comparisons.
            guard keyStarts.contains(bytes[i] | 0x20) else {
                i += 1
                continue
            }
            for key in assignmentKeys where matchesIgnoringCase(key, in: bytes, at: i, end: n) {
                // Up to six separator bytes (quotes, spaces, JSON escapes) holding a `=` or `:`.
                let afterKey = i + key.count
                var j = afterKey
                var sawAssignment = false
                while j < n, j - afterKey < 6, separators.contains(bytes[j]) {
                    if bytes[j] == UInt8(ascii: "=") || bytes[j] == UInt8(ascii: ":") { sawAssignment = true }
                    j += 1
                }
                guard sawAssignment else { continue }
                var k = j
                while k < n, valueBytes.contains(bytes[k]) { k += 1 }
                let value = bytes[j..<k]
                if value.count >= 20 && entropy(value) > 4.0 {
                    let shown = String(decoding: value.prefix(4), as: UTF8.self)
                    return "\(String(decoding: key, as: UTF8.self)) = \(shown)… (\(value.count) chars)"
                }
            }
            i += 1
        }
        return nil
    }

    private static let keyStarts = ByteSet([], String(decoding: assignmentKeys.compactMap(\.first), as: UTF8.self))
    private static let separators = ByteSet([], " \t\"':=\\")
    private static let valueBytes = ByteSet([UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                                            UInt8(ascii: "0")...UInt8(ascii: "9")], "+/_-")

    private static func matchesIgnoringCase(_ key: [UInt8], in bytes: [UInt8], at i: Int, end: Int) -> Bool {
        guard i + key.count <= end else { return false }
        for (offset, k) in key.enumerated() {
            let b = bytes[i + offset]
            let lower = (b >= 0x41 && b <= 0x5a) ? b | 0x20 : b
            if lower != k { return false }
        }
        return true
    }

    static func entropy<C: Collection>(_ s: C) -> Double where C.Element: Hashable {
        var counts: [C.Element: Int] = [:]
        for c in s { counts[c, default: 0] += 1 }
        let n = Double(s.count)
        return counts.values.reduce(0) { $0 - (Double($1) / n) * log2(Double($1) / n) }
    }

    /// Instruction-override phrases and invisible Unicode tag characters in tool results.
    func injection(toolResults: [String]) -> [Anomaly] {
        var found: [Anomaly] = []
        for text in toolResults {
            let lower = text.lowercased()
            if let phrase = Self.injectionPhrases.first(where: { lower.contains($0) }) {
                found.append(Anomaly(kind: "prompt_injection", rule: "instruction_override", detail: phrase))
            }
            if text.unicodeScalars.contains(where: { (0xE0000...0xE007F).contains($0.value) }) {
                found.append(Anomaly(kind: "prompt_injection", rule: "unicode_tag_characters", detail: "invisible tag characters"))
            }
        }
        return found
    }
}
