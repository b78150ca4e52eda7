/// Splits a Server-Sent Events stream into events (WHATWG HTML §9.2.6): lines end in `\n`, `\r\n` or `\r`;
/// `data:` lines of one event are joined with `\n`; a blank line ends the event; `:` lines are comments.
/// A value type fed bytes in any split; what is left unterminated at the end is reported as truncated.
struct SSEEventSplitter {
    struct Event: Equatable {
        var event: String?
        var data: String
        var id: String?
    }

    private var line: [UInt8] = []
    private var sawCR = false
    private var eventName: String?
    private var dataLines: [String] = []
    private var id: String?
    /// The stream's first bytes while they may still be a UTF-8 byte order mark, which is skipped (§9.2.6);
    /// nil once that is decided.
    private var head: [UInt8]? = []

    /// Whether bytes of an unfinished event are held (a stream cut mid-event).
    var hasPartialEvent: Bool { !line.isEmpty || !dataLines.isEmpty || eventName != nil }

    mutating func feed<C: Collection>(_ bytes: C) -> [Event] where C.Element == UInt8 {
        var events: [Event] = []
        for b in bytes {
            if var held = head {
                held.append(b)
                if held == Self.byteOrderMark {
                    head = nil
                } else if Self.byteOrderMark.starts(with: held) {
                    head = held
                } else {
                    // Not a BOM after all: the held bytes are the stream's first bytes.
                    head = nil
                    events += feed(held)
                }
                continue
            }
            if sawCR {
                sawCR = false
                if b == 0x0a { continue }
            }
            if b == 0x0a || b == 0x0d {
                sawCR = b == 0x0d
                if let e = endLine() { events.append(e) }
            } else {
                line.append(b)
            }
        }
        return events
    }

    /// Ends the stream: a final event without its blank line still counts (some servers omit it).
    mutating func finish() -> Event? {
        if let held = head {
            // A stream that ended inside what could have been a BOM: those bytes are its (only) content.
            head = nil
            _ = feed(held)
        }
        if !line.isEmpty { _ = endLine() }
        guard !dataLines.isEmpty else { return nil }
        return dispatch()
    }

    private mutating func endLine() -> Event? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            // An event with no data is not dispatched; its name does not carry over (§9.2.6).
            guard !dataLines.isEmpty else {
                eventName = nil
                return nil
            }
            return dispatch()
        }
        if line.first == 0x3a { return nil }
        let text = String(decoding: line, as: UTF8.self)
        let field: Substring
        var value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            value = text[text.index(after: colon)...]
            if value.first == " " { value = value.dropFirst() }
        } else {
            field = Substring(text)
            value = ""
        }
        switch field {
        case "event": eventName = String(value)
        case "data": dataLines.append(String(value))
        case "id": id = String(value)
        default: break
        }
        return nil
    }

    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    private mutating func dispatch() -> Event {
        let e = Event(event: eventName, data: dataLines.joined(separator: "\n"), id: id)
        eventName = nil
        dataLines.removeAll()
        return e
    }
}
