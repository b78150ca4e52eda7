import Foundation
import NIOCore

/// The binary form of a ``CaptureFrame`` (big-endian):
///
/// ```
/// u32 length        bytes that follow this field (34-byte header + payload)
/// u8  version       1
/// u8  kind
/// u64 sequence
/// 16  exchange id   UUID bytes
/// i64 timestamp     ns since the Unix epoch
/// ... payload
/// ```
public enum CaptureFrameCodec {
    public static let version = 1
    /// Bytes after the length field that are not payload.
    public static let headerLength = 34
    /// The largest frame a peer may send; body chunks are split well below it.
    public static let defaultMaximumFrameLength = 16 * 1024 * 1024

    /// Appends `frame` to `buffer`.
    public static func encode(_ frame: CaptureFrame, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: 4 + headerLength + frame.payload.readableBytes)
        buffer.writeInteger(UInt32(headerLength + frame.payload.readableBytes))
        buffer.writeInteger(UInt8(version))
        buffer.writeInteger(frame.kind.rawValue)
        buffer.writeInteger(frame.sequence)
        withUnsafeBytes(of: frame.exchangeID.uuid) { buffer.writeBytes($0) }
        buffer.writeInteger(frame.timestamp)
        var payload = frame.payload
        buffer.writeBuffer(&payload)
    }

    /// The encoded size of `frame`.
    public static func encodedLength(_ frame: CaptureFrame) -> Int {
        4 + headerLength + frame.payload.readableBytes
    }

    /// Decodes one frame from the front of `buffer`; `nil` if more bytes are needed (nothing is consumed then).
    public static func decode(
        from buffer: inout ByteBuffer, maximumFrameLength: Int = defaultMaximumFrameLength
    ) throws(CaptureFrameError) -> CaptureFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard Int(length) >= headerLength else {
            throw CaptureFrameError(.truncatedHeader, "frame length \(length) is shorter than the \(headerLength)-byte header")
        }
        guard Int(length) <= maximumFrameLength + headerLength else {
            throw CaptureFrameError(.frameTooLarge, "frame length \(length) exceeds the limit of \(maximumFrameLength)")
        }
        guard buffer.readableBytes >= 4 + Int(length) else {
            // Peek the version early so garbage is refused before we wait for a huge "length".
            if let v = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self), Int(v) != version {
                throw CaptureFrameError(.unsupportedVersion, "frame version \(v), expected \(version)")
            }
            return nil
        }
        guard var slice = buffer.getSlice(at: buffer.readerIndex + 4, length: Int(length)),
              let v = slice.readInteger(as: UInt8.self),
              let kind = slice.readInteger(as: UInt8.self),
              let sequence = slice.readInteger(as: UInt64.self),
              let uuid = slice.readBytes(length: 16)?.withUnsafeBytes({ $0.loadUnaligned(as: uuid_t.self) }),
              let timestamp = slice.readInteger(as: Int64.self)
        else {
            throw CaptureFrameError(.truncatedHeader, "frame of length \(length) has no complete header")
        }
        guard Int(v) == version else {
            throw CaptureFrameError(.unsupportedVersion, "frame version \(v), expected \(version)")
        }
        buffer.moveReaderIndex(forwardBy: 4 + Int(length))
        return CaptureFrame(kind: .init(rawValue: kind), sequence: sequence, exchangeID: UUID(uuid: uuid),
                            timestamp: timestamp, payload: slice)
    }
}

/// A frame that could not be decoded. The connection it came on is not trustworthy past this point.
public struct CaptureFrameError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable {
        let raw: String
        public static let truncatedHeader = Code(raw: "truncated header")
        public static let frameTooLarge = Code(raw: "frame too large")
        public static let unsupportedVersion = Code(raw: "unsupported version")
        public static let malformedPayload = Code(raw: "malformed payload")
        public static let unexpectedKind = Code(raw: "unexpected kind")
    }

    public var code: Code
    public var detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "capture frame: \(code.raw): \(detail)" }
}

/// Splits a byte stream into ``CaptureFrame``s, refusing oversized or garbage frames.
public struct CaptureFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = CaptureFrame
    public let maximumFrameLength: Int

    public init(maximumFrameLength: Int = CaptureFrameCodec.defaultMaximumFrameLength) {
        self.maximumFrameLength = maximumFrameLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> CaptureFrame? {
        try CaptureFrameCodec.decode(from: &buffer, maximumFrameLength: maximumFrameLength)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> CaptureFrame? {
        try decode(buffer: &buffer)
    }
}

/// Writes ``CaptureFrame``s.
public struct CaptureFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = CaptureFrame
    public init() {}
    public func encode(data: CaptureFrame, out: inout ByteBuffer) throws {
        CaptureFrameCodec.encode(data, into: &out)
    }
}
