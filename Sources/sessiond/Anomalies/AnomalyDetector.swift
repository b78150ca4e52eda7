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
    /// the bytes, ASCII case-insensitively: requests are large and may hold anything.
    static func highEntropyAssignment(in bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { highEntropyAssignment(in: $0) }
    }

    /// An assignment needs a `=` or `:` at most five separator bytes after its key. Rather than look at every
    /// byte for a key (a visible share of a record's CPU time), find those marks with memchr, look back from
    /// each for a key, and try the keys found in the order a forward scan meets them: the first that holds a
    /// random value is the one a forward scan returns.
    private static func highEntropyAssignment(in bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let n = min(bytes.count, 4 * 1024 * 1024)
        guard n > 0, let base = bytes.baseAddress else { return nil }
        var starts: [Int] = []
        for mark in [UInt8(ascii: "="), UInt8(ascii: ":")] {
            var from = 0
            while from < n, let hit = memchr(base + from, Int32(mark), n - from) {
                let q = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit))
                var afterKey = q
                while true {
                    for key in assignmentKeys where key.count <= afterKey
                        && matchesIgnoringCase(key, in: bytes, at: afterKey - key.count, end: n) {
                        starts.append(afterKey - key.count)
                    }
                    guard afterKey > 0, q - afterKey < 5, separators.contains(bytes[afterKey - 1]) else { break }
                    afterKey -= 1
                }
                from = q + 1
            }
        }
        starts.sort()
        var previous = -1
        for i in starts where i != previous {
            previous = i
            if let found = assignment(at: i, in: bytes, end: n) { return found }
        }
        return nil
    }

    /// The assignment of a random-looking value to a key that starts at `i`, if there is one.
    private static func assignment(at i: Int, in bytes: UnsafeBufferPointer<UInt8>, end n: Int) -> String? {
        let first = lowered(bytes[i])
        for key in assignmentKeys where key[0] == first && matchesIgnoringCase(key, in: bytes, at: i, end: n) {
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
        return nil
    }

    @inline(__always)
    private static func lowered(_ b: UInt8) -> UInt8 {
        (b >= 0x41 && b <= 0x5a) ? b | 0x20 : b
    }

    private static let separators = ByteSet([], " \t\"':=\\")
    private static let valueBytes = ByteSet([UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                                            UInt8(ascii: "0")...UInt8(ascii: "9")], "+/_-")

    private static func matchesIgnoringCase(_ key: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, at i: Int, end: Int) -> Bool {
        guard i + key.count <= end else { return false }
        for offset in key.indices where lowered(bytes[i + offset]) != key[offset] { return false }
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
