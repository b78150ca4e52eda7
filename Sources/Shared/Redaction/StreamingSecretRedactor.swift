/// Replaces secrets in a byte stream with `[REDACTED:<rule>]`, chunk by chunk.
///
/// A secret split across two chunks is still found: bytes that might be the start of a secret are held
/// back (at most the longest rule's span) until the next chunk or ``finish()`` decides. Only the capture
/// copy goes through here; the agent and the upstream see the original bytes.
public struct StreamingSecretRedactor: Sendable {
    private let rules: [SecretRule]
    private let firstBytes: ByteSet
    private var pending: [UInt8] = []
    /// The byte before `pending`, for the word-boundary check at the start of a token.
    private var previousByte: UInt8 = 0x20
    /// Rule names that fired so far, in first-seen order.
    public private(set) var firedRules: [String] = []

    public init(rules: [SecretRule] = SecretRule.standard) {
        self.rules = rules
        var first = ByteSet([])
        for rule in rules { for p in rule.prefixes where !p.isEmpty { first.insert(p[0]) } }
        self.firstBytes = first
    }

    /// Feeds the next chunk; returns the redacted bytes that are now certain.
    public mutating func feed<C: Collection>(_ chunk: C) -> [UInt8] where C.Element == UInt8 {
        pending.append(contentsOf: chunk)
        return scan(final: false)
    }

    /// Ends the stream; returns whatever was held back, redacted.
    public mutating func finish() -> [UInt8] {
        scan(final: true)
    }

    private enum Match {
        case none
        case needMore
        case found(length: Int)
    }

    private mutating func scan(final: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(pending.count)
        var emitFrom = 0
        var i = 0
        let buffer = pending
        scanning: while i < buffer.count {
            let b = buffer[i]
            guard firstBytes.contains(b) else {
                i += 1
                continue
            }
            let before = i > 0 ? buffer[i - 1] : previousByte
            for rule in rules {
                switch match(rule, in: buffer, at: i, final: final, before: before) {
                case .none:
                    continue
                case .needMore:
                    out.append(contentsOf: buffer[emitFrom..<i])
                    if i > 0 { previousByte = buffer[i - 1] }
                    pending = Array(buffer[i...])
                    return out
                case .found(let length):
                    out.append(contentsOf: buffer[emitFrom..<i])
                    out.append(contentsOf: "[REDACTED:\(rule.name)]".utf8)
                    if !firedRules.contains(rule.name) { firedRules.append(rule.name) }
                    i += length
                    emitFrom = i
                    continue scanning
                }
            }
            i += 1
        }
        out.append(contentsOf: buffer[emitFrom...])
        if let last = buffer.last { previousByte = last }
        pending.removeAll(keepingCapacity: true)
        return out
    }

    private func match(_ rule: SecretRule, in buffer: [UInt8], at start: Int, final: Bool, before: UInt8) -> Match {
        var sawPartialPrefix = false
        for prefix in rule.prefixes {
            let available = buffer.count - start
            let n = min(prefix.count, available)
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
                           before: UInt8) -> Match {
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
            guard endsWith(Self.privateKey, buffer, at: headerEnd) else { return .none }
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

    private func endsWith(_ suffix: [UInt8], _ buffer: [UInt8], at end: Int) -> Bool {
        guard end >= suffix.count else { return false }
        return Array(buffer[(end - suffix.count)..<end]) == suffix
    }
}
