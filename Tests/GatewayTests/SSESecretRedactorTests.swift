import Foundation
import Testing

@testable import gateway

@Suite struct SSESecretRedactorTests {
    static func anthropic(_ text: String) -> String {
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\(text)\"}}\n\n"
    }

    static func openai(_ text: String) -> String {
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\(text)\"}}]}\r\n\r\n"
    }

    private func run(_ chunks: [[UInt8]]) -> (String, [String]) {
        var r = SSESecretRedactor()
        var out: [UInt8] = []
        for c in chunks { out += c.withUnsafeBytes { r.feed($0) } }
        out += r.finish()
        return (String(decoding: out, as: UTF8.self), r.allFiredRules)
    }

    @Test(arguments: [
        [anthropic("key: AKIAIOSF"), anthropic("ODNN7EXAMPLE done")],
        [anthropic("AKIA"), anthropic("IOSFODNN"), anthropic("7EXAMPLE")],
        [openai("my key AKIAIOSFOD"), openai("NN7EXAMPLE!")],
    ])
    func aSecretSplitAcrossEventsIsRedacted(events: [String]) throws {
        let stream = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n" + events.joined()
            + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        let (out, fired) = run([Array(stream.utf8)])
        #expect(!out.contains("AKIA"), "\(out)")
        #expect(!out.contains("EXAMPLE"))
        #expect(out.contains("[REDACTED:aws_access_key]"))
        #expect(fired == ["aws_access_key"])
        // Every event is still an event with valid JSON.
        // (Split on unicode scalars: Swift treats "\r\n" as one Character.)
        for line in out.components(separatedBy: .newlines) where line.hasPrefix("data: ") {
            let json = Data(line.dropFirst(6).utf8)
            #expect((try? JSONSerialization.jsonObject(with: json)) != nil, "\(line)")
        }
    }

    @Test func everyChunkSplitGivesTheSameCapture() {
        let stream = Array((Self.anthropic("AKIAIOSF") + Self.anthropic("ODNN7EXAMPLE") + Self.anthropic("bye")).utf8)
        let whole = run([stream]).0
        for cut in 0...stream.count {
            #expect(run([Array(stream[..<cut]), Array(stream[cut...])]).0 == whole, "cut at \(cut)")
        }
    }

    @Test func aStreamWithoutSecretsIsUnchanged() {
        let stream = Self.anthropic("Hello") + Self.anthropic(" AKIA is not a key") + ": comment\n\n" + Self.openai("x")
        let (out, fired) = run([Array(stream.utf8)])
        #expect(out == stream)
        #expect(fired.isEmpty)
    }

    @Test func aSecretOutsideDeltaFieldsIsStillRedacted() {
        let stream = "data: {\"id\":\"AKIAIOSFODNN7EXAMPLE\"}\n\n"
        #expect(run([Array(stream.utf8)]).0 == "data: {\"id\":\"[REDACTED:aws_access_key]\"}\n\n")
    }

    @Test func heldEventsAreBounded() {
        var r = SSESecretRedactor(holdLimit: 1024)
        var emitted = 0
        // A delta ending in a possible secret prefix keeps its event held, but never more than the bound.
        for _ in 0..<100 {
            emitted += Array(Self.anthropic(String(repeating: "a", count: 50) + " ghp_").utf8).withUnsafeBytes { r.feed($0).count }
        }
        #expect(emitted > 0)
    }

    @Test(arguments: [("a\n\nb", 3), ("a\r\n\r\nb", 5), ("a\r\rb", 3), ("a\nb", nil), ("a\r", nil)])
    func eventBoundaries(text: String, end: Int?) {
        #expect(SSESecretRedactor.eventEnd(in: Array(text.utf8)) == end)
    }
}
