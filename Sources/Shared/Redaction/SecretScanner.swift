/// Finds secrets in a buffer with the shared rule set, and says where a decision needs more bytes.
///
/// The core of both redactors: ``StreamingSecretRedactor`` (raw chunks) and the gateway's SSE redactor
/// (text spread over several events). Pure: no state between calls.
public struct SecretScanner: Sendable {
    public struct Match: Equatable, Sendable {
        public var range: Range<Int>
        public var rule: String
    }

    private let rules: [SecretRule]
    private let firstBytes: ByteSet

    public init(rules: [SecretRule] = SecretRule.standard) {
        self.rules = rules
        var first = ByteSet([])
        for rule in rules { for p in rule.prefixes where !p.isEmpty { first.insert(p[0]) } }
        self.firstBytes = first
    }

    /// The matches in `buffer`, and the offset from which nothing is decided yet (a secret may start there
    /// and continue in bytes not seen). With `final`, everything is decided.
    /// `previousByte` is the byte before `buffer[0]`, for the word-boundary check of tokens.
    public func scan(_ buffer: [UInt8], final: Bool, previousByte: UInt8 = 0x20) -> (matches: [Match], undecidedFrom: Int) {
        var matches: [Match] = []
        var i = 0
        scanning: while i < buffer.count {
            guard firstBytes.contains(buffer[i]) else {
                i += 1
                continue
            }
            let before = i > 0 ? buffer[i - 1] : previousByte
            for rule in rules {
                switch match(rule, in: buffer, at: i, final: final, before: before) {
                case .none:
                    continue
                case .needMore:
                    return (matches, i)
                case .found(let length):
                    matches.append(Match(range: i..<(i + length), rule: rule.name))
                    i += length
                    continue scanning
                }
            }
            i += 1
        }
        return (matches, buffer.count)
    }

    private enum Outcome {
        case none
        case needMore
        case found(length: Int)
    }

    private func match(_ rule: SecretRule, in buffer: [UInt8], at start: Int, final: Bool, before: UInt8) -> Outcome {
        var sawPartialPrefix = false
        for prefix in rule.prefixes {
            let n = min(prefix.count, buffer.count - start)
            var equal = true
            for k in 0..<n where buffer[start + k] != prefix[k] {
                equal = false
                break
            }
            guard equal else { continue }
            if n < prefix.count {
                sawPartialPrefix = true
                continue
            }
            let result = matchBody(rule.body, in: buffer, from: start + prefix.count, start: start, final: final,
                                   before: before)
            if case .none = result { continue }
            return result
        }
        return sawPartialPrefix && !final ? .needMore : .none
    }

    private func matchBody(_ body: SecretRule.Body, in buffer: [UInt8], from bodyStart: Int, start: Int, final: Bool,
                           before: UInt8) -> Outcome {
        switch body {
        case .token(let alphabet, let minLength, let maxLength):
            // A token glued to preceding word characters is part of something else (base64, a hash).
            if ByteSet.alphanumeric.contains(before) { return .none }
            var j = bodyStart
            while j < buffer.count, alphabet.contains(buffer[j]), j - bodyStart <= maxLength { j += 1 }
            let run = j - bodyStart
            if run > maxLength { return .none }
            if j == buffer.count && !final { return .needMore }
            return run >= minLength ? .found(length: j - start) : .none
        case .pemBlock(let maxLength):
            let limit = min(buffer.count, start + maxLength)
            // The header: `-----BEGIN <words> PRIVATE KEY-----` within a short span.
            guard let headerEnd = find(Self.dashes, in: buffer, from: bodyStart, to: min(limit, bodyStart + 64)) else {
                return (buffer.count < bodyStart + 64 && buffer.count < start + maxLength && !final) ? .needMore : .none
            }
            guard headerEnd >= Self.privateKey.count,
                  Array(buffer[(headerEnd - Self.privateKey.count)..<headerEnd]) == Self.privateKey
            else { return .none }
            guard let end = find(Self.endMarker, in: buffer, from: headerEnd + 5, to: limit),
                  let close = find(Self.dashes, in: buffer, from: end + Self.endMarker.count, to: limit)
            else {
                if final { return .found(length: buffer.count - start) }
                return buffer.count < start + maxLength ? .needMore : .found(length: limit - start)
            }
            return .found(length: close + 5 - start)
        }
    }

    private static let dashes = Array("-----".utf8)
    private static let endMarker = Array("-----END ".utf8)
    private static let privateKey = Array("PRIVATE KEY".utf8)

    private func find(_ needle: [UInt8], in buffer: [UInt8], from: Int, to: Int) -> Int? {
        guard to - from >= needle.count else { return nil }
        var i = from
        while i + needle.count <= to {
            if buffer[i] == needle[0] {
                var k = 1
                while k < needle.count && buffer[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
