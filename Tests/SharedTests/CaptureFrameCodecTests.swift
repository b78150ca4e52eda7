import Foundation
import NIOCore
import NIOTestUtils
import Testing

@testable import Shared

@Suite struct CaptureFrameCodecTests {
    static let sample = CaptureFrame(
        kind: .requestBody, sequence: 42, exchangeID: UUID(), timestamp: 1_700_000_000_123_456_789,
        payload: ByteBuffer(string: "{\"model\":\"claude\"}"))

    @Test(arguments: [CaptureFrame.Kind.hello, .ack, .exchangeBegin, .requestBody, .responseHead, .responseBody,
                      .webSocketMessage, .exchangeEnd, .record])
    func roundTrip(kind: CaptureFrame.Kind) throws {
        var frame = Self.sample
        frame.kind = kind
        var buffer = ByteBuffer()
        CaptureFrameCodec.encode(frame, into: &buffer)
        #expect(buffer.readableBytes == CaptureFrameCodec.encodedLength(frame))
        let decoded = try CaptureFrameCodec.decode(from: &buffer)
        #expect(decoded == frame)
        #expect(buffer.readableBytes == 0)
    }

    @Test func everyTruncationWaitsForMoreAndConsumesNothing() throws {
        var full = ByteBuffer()
        CaptureFrameCodec.encode(Self.sample, into: &full)
        for cut in 0..<full.readableBytes {
            var partial = full.getSlice(at: 0, length: cut)!
            #expect(try CaptureFrameCodec.decode(from: &partial) == nil, "cut at \(cut)")
            #expect(partial.readableBytes == cut)
        }
    }

    @Test func garbageIsRefused() {
        var garbage = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(throws: CaptureFrameError.self) { try CaptureFrameCodec.decode(from: &garbage) }
    }

    @Test func aWrongVersionIsRefusedBeforeTheWholeFrameArrives() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(1_000))
        buffer.writeInteger(UInt8(9))
        let error = #expect(throws: CaptureFrameError.self) { try CaptureFrameCodec.decode(from: &buffer) }
        #expect(error?.code == .unsupportedVersion)
    }

    @Test func anOversizedFrameIsRefused() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(5_000_000))
        buffer.writeInteger(UInt8(1))
        let error = #expect(throws: CaptureFrameError.self) {
            try CaptureFrameCodec.decode(from: &buffer, maximumFrameLength: 1024)
        }
        #expect(error?.code == .frameTooLarge)
    }

    @Test func aLengthShorterThanTheHeaderIsRefused() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(3))
        buffer.writeBytes([1, 2, 3])
        let error = #expect(throws: CaptureFrameError.self) { try CaptureFrameCodec.decode(from: &buffer) }
        #expect(error?.code == .truncatedHeader)
    }

    @Test func theDecoderHandlesEverySplit() throws {
        var frames: [CaptureFrame] = []
        for i in 1...3 {
            var f = Self.sample
            f.sequence = UInt64(i)
            f.payload = ByteBuffer(string: String(repeating: "x", count: i * 7))
            frames.append(f)
        }
        let pairs = frames.map { frame -> (ByteBuffer, [CaptureFrame]) in
            var b = ByteBuffer()
            CaptureFrameCodec.encode(frame, into: &b)
            return (b, [frame])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { CaptureFrameDecoder() }
    }

    @Test func acksCarryTheirSequence() throws {
        var buffer = ByteBuffer()
        CaptureFrameCodec.encode(.ack(977), into: &buffer)
        let decoded = try #require(try CaptureFrameCodec.decode(from: &buffer))
        #expect(decoded.acknowledgedSequence == 977)
        #expect(Self.sample.acknowledgedSequence == nil)
    }

    @Test func jsonPayloadsDecode() throws {
        let hello = CaptureHello(gatewayID: "g1", host: "h")
        let frame = try CaptureFrame.json(.hello, exchangeID: CaptureFrame.noExchange, hello)
        #expect(try frame.decodeJSON(CaptureHello.self) == hello)
        #expect(throws: CaptureFrameError.self) { try Self.sample.decodeJSON(CaptureHello.self) }
    }
}

@Suite struct CaptureJSONTests {
    @Test func theHandWrittenJSONDecodesToTheSameRecords() throws {
        let begin = ExchangeBegin(
            gatewayID: "vm/1", connectionID: 7, scheme: "https", host: "api.anthropic.com", port: 443, method: "POST",
            path: "/v1/messages?x=\"1\"", httpVersion: "HTTP/1.1",
            headers: [["content-type", "application/json"], ["x-weird", "tab\there \\ \"quoted\" \u{1}"]],
            client: ClientAttribution(address: "127.0.0.1:5", pid: 42, uid: 1000, executable: "/usr/bin/curl",
                                      workingDirectory: "/tmp/ü", proxyUser: nil, userAgent: "curl/8"),
            startedAt: 1_795_000_000_000_000_000)
        #expect(try JSONDecoder().decode(ExchangeBegin.self, from: Data(begin.jsonBytes())) == begin)
        let head = ResponseHead(status: 200, reason: "OK", httpVersion: "HTTP/1.1", headers: [["a", "b"]], synthetic: true)
        #expect(try JSONDecoder().decode(ResponseHead.self, from: Data(head.jsonBytes())) == head)
        for end in [
            ExchangeEnd(outcome: .complete, status: 200, endedAt: 5, timeToFirstByte: 3, requestBytes: 1, responseBytes: 2,
                        requestWireSHA256: "aa", responseWireSHA256: "bb", redactions: ["aws_access_key"], streamed: true,
                        webSocket: false),
            ExchangeEnd(outcome: .upstreamError, error: "line\nbreak", status: nil, endedAt: 5, timeToFirstByte: nil,
                        requestBytes: 0, responseBytes: 0, requestWireSHA256: "", responseWireSHA256: "", redactions: [],
                        streamed: false, webSocket: true),
        ] {
            #expect(try JSONDecoder().decode(ExchangeEnd.self, from: Data(end.jsonBytes())) == end)
        }
    }
}
