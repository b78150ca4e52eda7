/// Replaces secrets in a byte stream with `[REDACTED:<rule>]`, chunk by chunk.
///
/// A secret split across two chunks is still found: bytes that might be the start of a secret are held
/// back (at most the longest rule's span) until the next chunk or ``finish()`` decides. Only the capture
/// copy goes through here; the agent and the upstream see the original bytes.
public struct StreamingSecretRedactor: Sendable {
    /// What became certain after a chunk.
    public enum Output: Equatable, Sendable {
        /// The first `n` bytes of the chunk just fed, unchanged (the rest, if any, is held back): the caller
        /// can pass its own bytes on without a copy.
        case chunkPrefix(Int)
        /// Bytes that differ from the chunk (redacted, or joined with bytes held back before it).
        case bytes([UInt8])
    }

    private let scanner: SecretScanner
    private var pending: [UInt8] = []
    /// The byte before `pending`, for the word-boundary check at the start of a token.
    private var previousByte: UInt8 = 0x20
    /// Rule names that fired so far, in first-seen order.
    public private(set) var firedRules: [String] = []

    /// The standard rule set.
    public init() {
        self.scanner = SecretScanner()
    }

    public init(rules: [SecretRule]) {
        self.scanner = SecretScanner(rules: rules)
    }

    /// Feeds the next chunk; returns the redacted bytes that are now certain.
    public mutating func feed<C: Collection>(_ chunk: C) -> [UInt8] where C.Element == UInt8 {
        pending.append(contentsOf: chunk)
        return drain(final: false)
    }

    /// Feeds the next chunk and says what is now certain, without copying the chunk in the common case
    /// (nothing held back from before, no secret in it).
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) -> Output {
        guard pending.isEmpty else {
            pending.append(contentsOf: chunk)
            return .bytes(drain(final: false))
        }
        let bytes = chunk.bindMemory(to: UInt8.self)
        let (matches, undecided) = scanner.scan(bytes, final: false, previousByte: previousByte)
        guard matches.isEmpty else {
            pending.append(contentsOf: chunk)
            return .bytes(drain(final: false))
        }
        if undecided > 0 { previousByte = bytes[undecided - 1] }
        pending.append(contentsOf: bytes[undecided...])
        return .chunkPrefix(undecided)
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
