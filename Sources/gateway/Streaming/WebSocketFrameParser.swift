/// Splits one direction of a WebSocket byte stream into messages (RFC 6455 §5), for the capture copy.
///
/// The relay forwards the original bytes untouched; this parser only watches them. It unmasks client
/// frames, reassembles fragmented messages, passes control frames (ping, pong, close) as their own
/// messages, and reports RSV1 (permessage-deflate, RFC 7692) so the caller can inflate. A value type
/// with no I/O: fed bytes in any split, it yields the same messages.
struct WebSocketFrameParser {
    /// A complete message (or control frame) as it was sent, still compressed if `compressed`.
    struct Message: Equatable {
        var opcode: UInt8
        var payload: [UInt8]
        var compressed: Bool
        /// The message exceeded the capture limit: `payload` holds its start only.
        var truncated: Bool
    }

    enum ParseError: Error, Equatable {
        case reservedOpcode(UInt8)
        case fragmentedControlFrame
        case continuationWithoutStart
        case frameTooLarge(UInt64)
    }

    private enum State {
        case header
        case payload(opcode: UInt8, fin: Bool, rsv1: Bool, mask: [UInt8]?, remaining: UInt64)
    }

    private var state = State.header
    private var buffer: [UInt8] = []
    private var maskOffset = 0
    /// The data message being reassembled: opcode of its first frame, RSV1 of its first frame.
    private var messageOpcode: UInt8?
    private var messageCompressed = false
    private var message: [UInt8] = []
    private var messageTruncated = false
    private var control: [UInt8] = []
    let maxFrameBytes: UInt64
    let maxMessageBytes: Int

    init(maxFrameBytes: Int, maxMessageBytes: Int) {
        self.maxFrameBytes = UInt64(maxFrameBytes)
        self.maxMessageBytes = maxMessageBytes
    }

    /// Feeds bytes; returns the messages they completed.
    mutating func feed<C: Collection>(_ bytes: C) throws(ParseError) -> [Message] where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        var out: [Message] = []
        var index = 0
        loop: while true {
            switch state {
            case .header:
                guard let (header, length) = parseHeader(from: index) else { break loop }
                index += length
                let (opcode, fin, rsv1, mask, payloadLength) = header
                if opcode >= 0x8 {
                    guard fin else { throw .fragmentedControlFrame }
                    control.removeAll(keepingCapacity: true)
                } else if opcode == 0x0 {
                    guard messageOpcode != nil else { throw .continuationWithoutStart }
                } else if opcode == 0x1 || opcode == 0x2 {
                    messageOpcode = opcode
                    messageCompressed = rsv1
                    message.removeAll(keepingCapacity: true)
                    messageTruncated = false
                } else {
                    throw .reservedOpcode(opcode)
                }
                guard payloadLength <= maxFrameBytes else { throw .frameTooLarge(payloadLength) }
                maskOffset = 0
                state = .payload(opcode: opcode, fin: fin, rsv1: rsv1, mask: mask, remaining: payloadLength)
                if payloadLength == 0, let done = completeFrame(opcode: opcode, fin: fin) { out.append(done) }
                if payloadLength == 0 { state = .header }
            case .payload(let opcode, let fin, let rsv1, let mask, let remaining):
                let available = buffer.count - index
                guard available > 0 else { break loop }
                let take = Int(min(UInt64(available), remaining))
                var chunk = Array(buffer[index..<(index + take)])
                if let mask {
                    for i in 0..<chunk.count { chunk[i] ^= mask[(maskOffset + i) & 3] }
                    maskOffset += chunk.count
                }
                index += take
                append(chunk, control: opcode >= 0x8)
                let left = remaining - UInt64(take)
                if left == 0 {
                    state = .header
                    if let done = completeFrame(opcode: opcode, fin: fin) { out.append(done) }
                } else {
                    state = .payload(opcode: opcode, fin: fin, rsv1: rsv1, mask: mask, remaining: left)
                }
            }
        }
        buffer.removeFirst(index)
        return out
    }

    private mutating func append(_ chunk: [UInt8], control isControl: Bool) {
        if isControl {
            control.append(contentsOf: chunk)
            return
        }
        let room = maxMessageBytes - message.count
        if chunk.count > room {
            message.append(contentsOf: chunk.prefix(max(room, 0)))
            messageTruncated = true
        } else {
            message.append(contentsOf: chunk)
        }
    }

    private mutating func completeFrame(opcode: UInt8, fin: Bool) -> Message? {
        if opcode >= 0x8 {
            return Message(opcode: opcode, payload: control, compressed: false, truncated: false)
        }
        guard fin, let first = messageOpcode else { return nil }
        let done = Message(opcode: first, payload: message, compressed: messageCompressed, truncated: messageTruncated)
        messageOpcode = nil
        message = []
        return done
    }

    private typealias Header = (opcode: UInt8, fin: Bool, rsv1: Bool, mask: [UInt8]?, length: UInt64)

    private func parseHeader(from start: Int) -> (Header, Int)? {
        guard buffer.count - start >= 2 else { return nil }
        let b0 = buffer[start], b1 = buffer[start + 1]
        var length = UInt64(b1 & 0x7f)
        var offset = start + 2
        if length == 126 {
            guard buffer.count - offset >= 2 else { return nil }
            length = UInt64(buffer[offset]) << 8 | UInt64(buffer[offset + 1])
            offset += 2
        } else if length == 127 {
            guard buffer.count - offset >= 8 else { return nil }
            length = 0
            for i in 0..<8 { length = length << 8 | UInt64(buffer[offset + i]) }
            offset += 8
        }
        var mask: [UInt8]?
        if b1 & 0x80 != 0 {
            guard buffer.count - offset >= 4 else { return nil }
            mask = Array(buffer[offset..<(offset + 4)])
            offset += 4
        }
        return ((b0 & 0x0f, b0 & 0x80 != 0, b0 & 0x40 != 0, mask, length), offset - start)
    }
}
