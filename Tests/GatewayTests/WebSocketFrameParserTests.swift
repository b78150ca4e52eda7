import Testing

@testable import gateway

@Suite struct WebSocketFrameParserTests {
    /// Encodes one frame as a peer would (client frames masked).
    static func frame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false,
                      mask: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode]
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        if payload.count < 126 {
            out.append(maskBit | UInt8(payload.count))
        } else if payload.count <= 0xffff {
            out.append(maskBit | 126)
            out += [UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8((payload.count >> shift) & 0xff)) }
        }
        if let mask {
            out += mask
            out += payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
        } else {
            out += payload
        }
        return out
    }

    private func parse(_ chunks: [[UInt8]], maxMessage: Int = 1 << 20) throws -> [WebSocketFrameParser.Message] {
        var parser = WebSocketFrameParser(maxFrameBytes: 1 << 20, maxMessageBytes: maxMessage)
        var out: [WebSocketFrameParser.Message] = []
        for c in chunks { out += try parser.feed(c) }
        return out
    }

    static let text = Array("{\"type\":\"response.create\"}".utf8)
    static let big = [UInt8](repeating: 0x61, count: 70_000)

    @Test func aMaskedClientMessageIsUnmasked() throws {
        let bytes = Self.frame(0x1, Self.text, mask: [1, 2, 3, 4])
        #expect(try parse([bytes]) == [.init(opcode: 1, payload: Self.text, compressed: false, truncated: false)])
    }

    @Test func everySplitGivesTheSameMessages() throws {
        let stream = Self.frame(0x1, Array(Self.text.prefix(10)), fin: false, rsv1: true, mask: [9, 8, 7, 6])
            + Self.frame(0x9, [1, 2], mask: [1, 1, 1, 1])  // a ping between fragments
            + Self.frame(0x0, Array(Self.text.dropFirst(10)), mask: [5, 5, 5, 5])
            + Self.frame(0x2, Array(Self.big.prefix(300)))
            + Self.frame(0x8, [0x03, 0xe8])
        let whole = try parse([stream])
        #expect(whole.map(\.opcode) == [9, 1, 2, 8])
        #expect(whole[1].payload == Self.text)
        #expect(whole[1].compressed)
        for cut in 0...stream.count {
            #expect(try parse([Array(stream[..<cut]), Array(stream[cut...])]) == whole, "cut at \(cut)")
        }
    }

    @Test func lengthsOf16And64BitsParse() throws {
        let bytes = Self.frame(0x2, Self.big)
        let out = try parse([bytes])
        #expect(out.first?.payload.count == Self.big.count)
        let medium = Array(Self.big.prefix(1000))
        #expect(try parse([Self.frame(0x2, medium)]).first?.payload == medium)
    }

    @Test func aMessageOverTheCaptureLimitIsMarkedTruncated() throws {
        let out = try parse([Self.frame(0x2, Self.big)], maxMessage: 100)
        #expect(out.first?.truncated == true)
        #expect(out.first?.payload.count == 100)
    }

    @Test(arguments: [
        (frame(0x3, []), WebSocketFrameParser.ParseError.reservedOpcode(3)),
        (frame(0x9, [1], fin: false), .fragmentedControlFrame),
        (frame(0x0, [1]), .continuationWithoutStart),
    ])
    func protocolViolationsAreErrors(bytes: [UInt8], error: WebSocketFrameParser.ParseError) {
        #expect(throws: error) { try parse([bytes]) }
    }

    @Test func permessageDeflateNegotiation() {
        let on = PermessageDeflate(acceptedExtensions: ["permessage-deflate; client_max_window_bits=15; server_no_context_takeover"])
        #expect(on == PermessageDeflate(enabled: true, clientNoContextTakeover: false, serverNoContextTakeover: true))
        #expect(PermessageDeflate(acceptedExtensions: []) == .off)
        #expect(PermessageDeflate(acceptedExtensions: ["x-webkit-deflate-frame"]) == .off)
    }
}
