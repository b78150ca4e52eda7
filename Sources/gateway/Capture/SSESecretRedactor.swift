import Shared

/// Redacts secrets in the capture copy of a Server-Sent Events stream, including a secret whose
/// characters arrive in two or more events (a model streaming `AKIA…` as several `text_delta`s).
///
/// Events are held (capture copy only; the agent already has them) while the text of their delta fields
/// could still be the start of a secret. The delta texts of the held events are scanned as one string;
/// a match is replaced by `[REDACTED:<rule>]` in the event where it starts and removed from the events it
/// continues into, so every event stays valid JSON. Everything emitted also passes the plain byte-stream
/// redactor, which catches secrets anywhere else in an event.
struct SSESecretRedactor {
    private struct HeldEvent {
        var raw: [UInt8]
        /// Byte ranges in `raw` of delta string contents, in order.
        var segments: [Range<Int>]
    }

    /// JSON keys whose string values carry streamed text across the providers' event formats.
    static let deltaKeys = ["text", "partial_json", "delta", "content", "arguments", "thinking"].map { Array("\"\($0)\"".utf8) }

    private let scanner = SecretScanner()
    private var bytes = StreamingSecretRedactor()
    private var partial: [UInt8] = []
    private var held: [HeldEvent] = []
    private var heldBytes = 0
    private let holdLimit: Int
    private(set) var firedRules: [String] = []

    init(holdLimit: Int = 64 * 1024) {
        self.holdLimit = holdLimit
    }

    var allFiredRules: [String] {
        var all = firedRules
        for r in bytes.firedRules where !all.contains(r) { all.append(r) }
        return all
    }

    mutating func feed<C: Collection>(_ chunk: C) -> [UInt8] where C.Element == UInt8 {
        partial.append(contentsOf: chunk)
        var out: [UInt8] = []
        while let end = Self.eventEnd(in: partial) {
            let raw = Array(partial[..<end])
            partial.removeFirst(end)
            held.append(HeldEvent(raw: raw, segments: Self.deltaSegments(in: raw)))
            heldBytes += raw.count
            out += release(final: false)
        }
        // An unterminated event larger than the bound is not an event stream we can follow: pass it on.
        if partial.count > holdLimit {
            out += release(final: true)
            out += bytes.feed(partial)
            partial.removeAll()
        }
        return out
    }

    mutating func finish() -> [UInt8] {
        if !partial.isEmpty {
            held.append(HeldEvent(raw: partial, segments: Self.deltaSegments(in: partial)))
            partial.removeAll()
        }
        var out = release(final: true)
        out += bytes.finish()
        return out
    }

    /// Redacts what is decided and emits the held events that can no longer be part of an undecided secret.
    private mutating func release(final: Bool) -> [UInt8] {
        var joined: [UInt8] = []
        var owners: [(event: Int, offset: Int)] = []
        for (e, event) in held.enumerated() {
            for segment in event.segments {
                for offset in segment {
                    joined.append(event.raw[offset])
                    owners.append((e, offset))
                }
            }
        }
        let forced = final || heldBytes > holdLimit
        let (matches, undecided) = scanner.scan(joined, final: forced)
        if !matches.isEmpty { apply(matches, owners: owners) }
        // Events whose delta text lies wholly before the undecided point (or that have none and are not
        // behind an event that must wait) can go.
        let firstWaiting = undecided < owners.count ? owners[undecided].event : held.count
        var out: [UInt8] = []
        for event in held.prefix(firstWaiting) {
            out += bytes.feed(event.raw)
            heldBytes -= event.raw.count
        }
        held.removeFirst(firstWaiting)
        return out
    }

    /// Rewrites the held events: each match's bytes are replaced in the first event it touches and dropped
    /// from the others. Works from the last match back so earlier offsets stay valid.
    private mutating func apply(_ matches: [SecretScanner.Match], owners: [(event: Int, offset: Int)]) {
        for match in matches.reversed() {
            if !firedRules.contains(match.rule) { firedRules.append(match.rule) }
            // Group the match's characters by event, keeping each event's contiguous run.
            var runs: [(event: Int, lower: Int, upper: Int)] = []
            for index in match.range {
                let (e, offset) = owners[index]
                if let last = runs.last, last.event == e, last.upper == offset {
                    runs[runs.count - 1].upper = offset + 1
                } else {
                    runs.append((e, offset, offset + 1))
                }
            }
            for (n, run) in runs.enumerated().reversed() {
                let replacement = n == 0 ? Array("[REDACTED:\(match.rule)]".utf8) : []
                held[run.event].raw.replaceSubrange(run.lower..<run.upper, with: replacement)
                held[run.event].segments = Self.deltaSegments(in: held[run.event].raw)
            }
        }
        // Offsets moved; the next release recomputes owners from the rewritten events.
    }

    /// The end (exclusive) of the first complete event: a blank line after `\n`, `\r\n` or `\r` line ends.
    static func eventEnd(in buffer: [UInt8]) -> Int? {
        var i = 0
        while i < buffer.count {
            let b = buffer[i]
            if b == 0x0a || b == 0x0d {
                var j = i + 1
                if b == 0x0d && j < buffer.count && buffer[j] == 0x0a { j += 1 }
                if j < buffer.count {
                    let c = buffer[j]
                    if c == 0x0a { return j + 1 }
                    if c == 0x0d {
                        if j + 1 < buffer.count { return buffer[j + 1] == 0x0a ? j + 2 : j + 1 }
                        return nil
                    }
                }
                i = j
                continue
            }
            i += 1
        }
        return nil
    }

    /// The contents of string values of the delta keys, as byte ranges (escapes stay as they are).
    static func deltaSegments(in raw: [UInt8]) -> [Range<Int>] {
        var segments: [Range<Int>] = []
        var i = 0
        while i < raw.count {
            guard raw[i] == 0x22 else {
                i += 1
                continue
            }
            var matchedKey: [UInt8]?
            for key in deltaKeys where i + key.count <= raw.count && Array(raw[i..<(i + key.count)]) == key {
                matchedKey = key
                break
            }
            guard let key = matchedKey else {
                i += 1
                continue
            }
            var j = i + key.count
            while j < raw.count, raw[j] == 0x20 { j += 1 }
            guard j < raw.count, raw[j] == 0x3a else {
                i += 1
                continue
            }
            j += 1
            while j < raw.count, raw[j] == 0x20 { j += 1 }
            guard j < raw.count, raw[j] == 0x22 else {
                i = j
                continue
            }
            let start = j + 1
            var k = start
            while k < raw.count, raw[k] != 0x22 {
                k += raw[k] == 0x5c ? 2 : 1
            }
            if k <= raw.count {
                segments.append(start..<min(k, raw.count))
            }
            i = k + 1
        }
        return segments
    }
}
