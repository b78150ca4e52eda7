import Foundation
import NIOCore

/// One unit of the capture stream between gateway and ingestd (DESIGN.md, "Capture path guarantees" 2–3).
///
/// Frames of concurrent exchanges interleave on one connection; each carries its exchange id and the
/// gateway's sequence number. Control frames (hello, ack) carry sequence 0 and a zero exchange id.
public struct CaptureFrame: Sendable, Equatable {
    /// What a frame carries. A struct rather than an enum so a new kind can be added without breaking decoders
    /// that skip kinds they do not know.
    public struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// gateway → ingestd, first frame of a connection: JSON ``CaptureHello``.
        public static let hello = Kind(rawValue: 1)
        /// ingestd → gateway: big-endian UInt64, every sequence number up to it is durable.
        public static let ack = Kind(rawValue: 2)
        /// JSON ``ExchangeBegin``.
        public static let exchangeBegin = Kind(rawValue: 10)
        /// Raw request body bytes (after body redaction).
        public static let requestBody = Kind(rawValue: 11)
        /// JSON ``ResponseHead``.
        public static let responseHead = Kind(rawValue: 12)
        /// Raw response body bytes (after body redaction).
        public static let responseBody = Kind(rawValue: 13)
        /// ``WebSocketMessage``: direction byte, opcode byte, the message decompressed.
        public static let webSocketMessage = Kind(rawValue: 14)
        /// JSON ``ExchangeEnd``.
        public static let exchangeEnd = Kind(rawValue: 15)

        public var description: String {
            switch self {
            case .hello: "hello"
            case .ack: "ack"
            case .exchangeBegin: "exchange_begin"
            case .requestBody: "request_body"
            case .responseHead: "response_head"
            case .responseBody: "response_body"
            case .webSocketMessage: "websocket_message"
            case .exchangeEnd: "exchange_end"
            default: "kind(\(rawValue))"
            }
        }
    }

    public var kind: Kind
    /// Per-gateway sequence number, from 1; 0 for control frames.
    public var sequence: UInt64
    public var exchangeID: UUID
    /// Nanoseconds since the Unix epoch when the gateway saw the bytes.
    public var timestamp: Int64
    public var payload: ByteBuffer

    public init(kind: Kind, sequence: UInt64, exchangeID: UUID, timestamp: Int64, payload: ByteBuffer) {
        self.kind = kind
        self.sequence = sequence
        self.exchangeID = exchangeID
        self.timestamp = timestamp
        self.payload = payload
    }

    /// The zero UUID used by control frames.
    public static let noExchange = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    /// Wall-clock now, in the frames' unit.
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// The payload decoded as JSON of type `T`.
    public func decodeJSON<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(payload.readableBytesView))
        } catch {
            throw CaptureFrameError(.malformedPayload, "\(kind) payload is not valid \(T.self): \(error)")
        }
    }

    /// A frame whose payload is `value` as JSON.
    public static func json<T: Encodable>(
        _ kind: Kind, sequence: UInt64 = 0, exchangeID: UUID, timestamp: Int64 = now(), _ value: T
    ) throws -> CaptureFrame {
        let data = try Self.encoder.encode(value)
        return CaptureFrame(kind: kind, sequence: sequence, exchangeID: exchangeID, timestamp: timestamp,
                            payload: ByteBuffer(bytes: data))
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// An ack for `sequence`.
    public static func ack(_ sequence: UInt64) -> CaptureFrame {
        var payload = ByteBuffer()
        payload.writeInteger(sequence)
        return CaptureFrame(kind: .ack, sequence: 0, exchangeID: noExchange, timestamp: now(), payload: payload)
    }

    /// The acknowledged sequence number of an ack frame.
    public var acknowledgedSequence: UInt64? {
        guard kind == .ack else { return nil }
        return payload.getInteger(at: payload.readerIndex, as: UInt64.self)
    }
}
