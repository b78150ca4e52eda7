import Testing

@testable import sessiond

/// The SSE splitter against the WHATWG rules, fed whole, byte by byte, and split at every offset.
@Suite struct SSEEventSplitterTests {
    typealias Event = SSEEventSplitter.Event

    static func ev(event: String? = nil, data: String, id: String? = nil) -> Event {
        Event(event: event, data: data, id: id)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var stream: String
        var events: [Event]
        /// Events that only `finish()` yields (no blank line after them).
        var atFinish: Event?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "LF", stream: "event: a\ndata: one\n\n", events: [ev(event: "a", data: "one")]),
        Case(name: "CRLF", stream: "event: a\r\ndata: one\r\n\r\n", events: [ev(event: "a", data: "one")]),
        Case(name: "CR", stream: "event: a\rdata: one\r\r", events: [ev(event: "a", data: "one")]),
        Case(name: "mixed line ends", stream: "data: 1\r\n\ndata: 2\r\rdata: 3\n\r\n",
             events: [ev(data: "1"), ev(data: "2"), ev(data: "3")]),
        Case(name: "multi-line data joins with LF", stream: "data: {\"a\":\ndata:  1}\ndata\n\n",
             events: [ev(data: "{\"a\":\n 1}\n")]),
        Case(name: "one space after the colon is dropped, no more", stream: "data:x\n\ndata: x\n\ndata:  x\n\n",
             events: [ev(data: "x"), ev(data: "x"), ev(data: " x")]),
        Case(name: "comments and unknown fields are ignored", stream: ": keep-alive\nretry: 10\nfoo: bar\ndata: d\n\n",
             events: [ev(data: "d")]),
        Case(name: "a name without data is not dispatched and does not carry over",
             stream: "event: ping\n\ndata: after\n\n", events: [ev(data: "after")]),
        Case(name: "empty data is an event", stream: "data:\n\n", events: [ev(data: "")]),
        Case(name: "id persists to later events", stream: "id: 7\ndata: a\n\ndata: b\n\n",
             events: [ev(data: "a", id: "7"), ev(data: "b", id: "7")]),
        Case(name: "a byte order mark at the start is skipped", stream: "\u{FEFF}data: a\n\n", events: [ev(data: "a")]),
        Case(name: "only the first byte order mark", stream: "\u{FEFF}\u{FEFF}data: a\n\n", events: []),
        Case(name: "a last event without its blank line comes at finish", stream: "data: a\n\ndata: b",
             events: [ev(data: "a")], atFinish: ev(data: "b")),
        Case(name: "UTF-8 split across chunks", stream: "data: héllo ☃ 🧪\n\n", events: [ev(data: "héllo ☃ 🧪")]),
        Case(name: "empty stream", stream: "", events: []),
    ]

    func run(_ chunks: [[UInt8]]) -> [Event] {
        var splitter = SSEEventSplitter()
        var events = chunks.flatMap { splitter.feed($0) }
        if let last = splitter.finish() { events.append(last) }
        return events
    }

    @Test(arguments: cases)
    func wholeByteByByteAndAtEverySplit(_ c: Case) {
        let bytes = Array(c.stream.utf8)
        let expected = c.events + (c.atFinish.map { [$0] } ?? [])
        #expect(run([bytes]) == expected, "whole")
        #expect(run(bytes.map { [$0] }) == expected, "byte by byte")
        for cut in 0...bytes.count {
            #expect(run([Array(bytes[..<cut]), Array(bytes[cut...])]) == expected, "split at \(cut)")
        }
    }

    @Test(arguments: cases)
    func eventsAreDispatchedAtTheirBlankLineNotAtFinish(_ c: Case) {
        var splitter = SSEEventSplitter()
        #expect(splitter.feed(Array(c.stream.utf8)) == c.events)
        #expect(splitter.finish() == c.atFinish)
    }

    @Test func aRealStreamIsTheSameWhateverTheChunking() {
        let stream = Array(ProviderWireFixtures.responsesStream.utf8)
        let whole = run([stream])
        #expect(whole.count == 9)
        #expect(whole.first?.event == "response.created")
        for size in [1, 2, 3, 7, 64, 1000] {
            let chunks = stride(from: 0, to: stream.count, by: size).map { Array(stream[$0..<min($0 + size, stream.count)]) }
            #expect(run(chunks) == whole, "chunks of \(size)")
        }
    }
}
