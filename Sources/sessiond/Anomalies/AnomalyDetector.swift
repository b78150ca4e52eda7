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

    /// `password = "…"`-style assignments whose value looks random (Shannon entropy over 4 bits/char).
    static func highEntropyAssignment(in bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes.prefix(4 * 1024 * 1024), as: UTF8.self)
        let keys = ["api_key", "apikey", "secret", "token", "password", "passwd", "access_key", "private_key"]
        let lower = text.lowercased()
        for key in keys {
            var search = lower.startIndex
            while let range = lower.range(of: key, range: search..<lower.endIndex) {
                search = range.upperBound
                var i = range.upperBound
                var skipped = 0
                while i < lower.endIndex, " \t\"':=\\".contains(lower[i]), skipped < 6 {
                    i = lower.index(after: i)
                    skipped += 1
                }
                guard skipped > 0, lower[range.upperBound..<i].contains(where: { $0 == "=" || $0 == ":" }) else { continue }
                let valueStart = text.index(text.startIndex, offsetBy: lower.distance(from: lower.startIndex, to: i))
                let value = text[valueStart...].prefix { $0.isLetter || $0.isNumber || "+/_-".contains($0) }
                if value.count >= 20 && entropy(value) > 4.0 {
                    return "\(key) = \(value.prefix(4))… (\(value.count) chars)"
                }
            }
        }
        return nil
    }

    static func entropy<S: StringProtocol>(_ s: S) -> Double {
        var counts: [Character: Int] = [:]
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
