/// Finds secrets in a buffer with the shared rule set, and says where a decision needs more bytes.
///
/// The core of both redactors: ``StreamingSecretRedactor`` (raw chunks) and the gateway's SSE redactor
/// (text spread over several events). Pure: no state between calls.
///
/// It runs over every body the gateway relays, so the per-byte path is two table look-ups: a byte that
/// cannot start a prefix is skipped, and so is one whose next byte cannot continue any prefix. Only what
/// passes both goes to the rules, and the rules are held by a shared immutable index (no per-byte copies).
public struct SecretScanner: Sendable {
    public struct Match: Equatable, Sendable {
        public var range: Range<Int>
        public var rule: String
    }

    /// The rules, compiled once: which prefixes each first byte can start, and which byte pairs begin one.
    private final class Index: Sendable {
        struct Candidate {
            var prefix: [UInt8]
            var rule: Int
        }

        let rules: [SecretRule]
        let firstBytes: ByteSet
        /// Bit `a << 8 | b` is set when some prefix starts with the bytes `a`, `b`.
        let pairs: [UInt64]
        /// Per first byte, the prefixes it can start, in rule order.
        let candidates: [[Candidate]]

        init(rules: [SecretRule]) {
            self.rules = rules
            var first = ByteSet([])
            var pairs = [UInt64](repeating: 0, count: 65_536 / 64)
            var candidates = [[Candidate]](repeating: [], count: 256)
            for (r, rule) in rules.enumerated() {
                for p in rule.prefixes where !p.isEmpty {
                    first.insert(p[0])
                    candidates[Int(p[0])].append(Candidate(prefix: p, rule: r))
                    let second = p.count > 1 ? [p[1]] : Array(0...255)
                    for b in second {
                        let bit = Int(p[0]) << 8 | Int(b)
                        pairs[bit >> 6] |= 1 << UInt64(bit & 63)
                    }
                }
            }
            self.firstBytes = first
            self.pairs = pairs
            self.candidates = candidates
        }

        @inline(__always)
        func pairMayStart(_ a: UInt8, _ b: UInt8) -> Bool {
            let bit = Int(a) << 8 | Int(b)
            return pairs[bit >> 6] & (1 << UInt64(bit & 63)) != 0
        }
    }

    private let index: Index

    /// The standard rule set, compiled once per process.
    public init() {
        self.index = Self.standardIndex
    }

    public init(rules: [SecretRule]) {
        self.index = Index(rules: rules)
    }

    private static let standardIndex = Index(rules: SecretRule.standard)

    /// The matches in `buffer`, and the offset from which nothing is decided yet (a secret may start there
    /// and continue in bytes not seen). With `final`, everything is decided.
    /// `previousByte` is the byte before `buffer[0]`, for the word-boundary check of tokens.
    public func scan(_ buffer: [UInt8], final: Bool, previousByte: UInt8 = 0x20) -> (matches: [Match], undecidedFrom: Int) {
        buffer.withUnsafeBufferPointer { scan($0, final: final, previousByte: previousByte) }
    }

    public func scan(
        _ buffer: UnsafeBufferPointer<UInt8>, final: Bool, previousByte: UInt8 = 0x20
    ) -> (matches: [Match], undecidedFrom: Int) {
        var matches: [Match] = []
        let index = self.index
        let count = buffer.count
        var i = 0
        scanning: while i < count {
            let byte = buffer[i]
            guard index.firstBytes.contains(byte) else {
                i += 1
                continue
            }
            if i + 1 < count, !index.pairMayStart(byte, buffer[i + 1]) {
                i += 1
                continue
            }
            let before = i > 0 ? buffer[i - 1] : previousByte
            var needMore = false
            for candidate in index.candidates[Int(byte)] {
                let rule = index.rules[candidate.rule]
                switch match(candidate.prefix, rule.body, in: buffer, at: i, final: final, before: before) {
                case .none:
                    continue
                case .needMore:
                    needMore = true
                case .found(let length):
                    // An earlier rule waiting for more bytes outranks this one: decide nothing yet.
                    if needMore { return (matches, i) }
                    matches.append(Match(range: i..<(i + length), rule: rule.name))
                    i += length
                    continue scanning
                }
            }
            if needMore { return (matches, i) }
            i += 1
        }
        return (matches, count)
    }

    private enum Outcome {
        case none
        case needMore
        case found(length: Int)
    }

    /// One prefix of a rule at `start`: a partial prefix at the end of the buffer needs more bytes.
    private func match(_ prefix: [UInt8], _ body: SecretRule.Body, in buffer: UnsafeBufferPointer<UInt8>, at start: Int,
                       final: Bool, before: UInt8) -> Outcome {
        let n = min(prefix.count, buffer.count - start)
        for k in 0..<n where buffer[start + k] != prefix[k] { return .none }
        if n < prefix.count { return final ? .none : .needMore }
        return matchBody(body, in: buffer, from: start + prefix.count, start: start, final: final, before: before)
    }

    private func matchBody(_ body: SecretRule.Body, in buffer: UnsafeBufferPointer<UInt8>, from bodyStart: Int, start: Int, final: Bool,
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
                  buffer[(headerEnd - Self.privateKey.count)..<headerEnd].elementsEqual(Self.privateKey)
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

    private func find(_ needle: [UInt8], in buffer: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int? {
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
