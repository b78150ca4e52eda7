/// Replaces secrets in a byte stream with `[REDACTED:<rule>]`, chunk by chunk.
///
/// A secret split across two chunks is still found: bytes that might be the start of a secret are held
/// back (at most the longest rule's span) until the next chunk or ``finish()`` decides. Only the capture
/// copy goes through here; the agent and the upstream see the original bytes.
public struct StreamingSecretRedactor: Sendable {
    private let scanner: SecretScanner
    private var pending: [UInt8] = []
    /// The byte before `pending`, for the word-boundary check at the start of a token.
    private var previousByte: UInt8 = 0x20
    /// Rule names that fired so far, in first-seen order.
    public private(set) var firedRules: [String] = []

    public init(rules: [SecretRule] = SecretRule.standard) {
        self.scanner = SecretScanner(rules: rules)
    }

    /// Feeds the next chunk; returns the redacted bytes that are now certain.
    public mutating func feed<C: Collection>(_ chunk: C) -> [UInt8] where C.Element == UInt8 {
        pending.append(contentsOf: chunk)
        return drain(final: false)
    }

    /// Ends the stream; returns whatever was held back, redacted.
    public mutating func finish() -> [UInt8] {
        drain(final: true)
    }

    private mutating func drain(final: Bool) -> [UInt8] {
        let (matches, undecided) = scanner.scan(pending, final: final, previousByte: previousByte)
        var out: [UInt8] = []
        out.reserveCapacity(undecided)
        var from = 0
        for match in matches {
            out.append(contentsOf: pending[from..<match.range.lowerBound])
            out.append(contentsOf: "[REDACTED:\(match.rule)]".utf8)
            note(match.rule)
            from = match.range.upperBound
        }
        out.append(contentsOf: pending[from..<undecided])
        if undecided > 0 { previousByte = pending[undecided - 1] }
        pending.removeFirst(undecided)
        return out
    }

    private mutating func note(_ rule: String) {
        if !firedRules.contains(rule) { firedRules.append(rule) }
    }
}
