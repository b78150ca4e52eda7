import Foundation

/// One finished exchange as ingestd hands it to sessiond over `run/session.sock`: everything the gateway
/// said about it, plus where its bodies now live in the object store.
///
/// Travels as the JSON payload of a ``CaptureFrame`` of kind ``CaptureFrame/Kind/record`` whose sequence
/// number is ingestd's delivery sequence; sessiond answers with an ack after its database commit.
public struct CaptureRecord: Codable, Sendable, Equatable {
    /// The exchange id the gateway gave; unique, so replays are harmless (`turns.capture_id`).
    public var captureID: UUID
    public var begin: ExchangeBegin
    /// Absent when the exchange ended before any response head (client abort, upstream unreachable).
    public var response: ResponseHead?
    public var end: ExchangeEnd
    public var requestBody: BodyReference?
    public var responseBody: BodyReference?
    /// WebSocket messages in the order they crossed, each stored as its own object.
    public var webSocketMessages: [WebSocketMessageReference]
    /// `captures/<UTC timestamp>_<uuid>.json`, relative to the state directory.
    public var metadataPath: String

    public init(captureID: UUID, begin: ExchangeBegin, response: ResponseHead?, end: ExchangeEnd,
                requestBody: BodyReference?, responseBody: BodyReference?,
                webSocketMessages: [WebSocketMessageReference] = [], metadataPath: String) {
        self.captureID = captureID
        self.begin = begin
        self.response = response
        self.end = end
        self.requestBody = requestBody
        self.responseBody = responseBody
        self.webSocketMessages = webSocketMessages
        self.metadataPath = metadataPath
    }

    enum CodingKeys: String, CodingKey {
        case captureID = "capture_id"
        case begin, response, end
        case requestBody = "request_body"
        case responseBody = "response_body"
        case webSocketMessages = "websocket_messages"
        case metadataPath = "metadata_path"
    }
}

/// A body in the content-addressed store.
public struct BodyReference: Codable, Sendable, Equatable {
    public var kind: ObjectKind
    /// SHA-256 (hex) of the stored bytes, uncompressed (after redaction): the object's name.
    public var sha256: String
    /// Stored bytes, uncompressed.
    public var size: Int64
    /// True when the body exceeded `capture.max_body_bytes` and only its start is stored.
    public var truncated: Bool
    /// The whole body's size and SHA-256 as captured (equal to `size`/`sha256` unless truncated).
    public var fullSize: Int64
    public var fullSHA256: String
    public var compression: String

    public init(kind: ObjectKind, sha256: String, size: Int64, truncated: Bool = false, fullSize: Int64,
                fullSHA256: String, compression: String) {
        self.kind = kind
        self.sha256 = sha256
        self.size = size
        self.truncated = truncated
        self.fullSize = fullSize
        self.fullSHA256 = fullSHA256
        self.compression = compression
    }

    enum CodingKeys: String, CodingKey {
        case kind, sha256, size, truncated
        case fullSize = "full_size"
        case fullSHA256 = "full_sha256"
        case compression
    }
}

/// `objects/req/` or `objects/resp/`.
public enum ObjectKind: String, Codable, Sendable {
    case request = "req"
    case response = "resp"
}

/// One WebSocket message of an exchange.
public struct WebSocketMessageReference: Codable, Sendable, Equatable {
    public var direction: WebSocketDirection
    public var opcode: UInt8
    /// Nanoseconds since the epoch.
    public var timestamp: Int64
    public var body: BodyReference

    public init(direction: WebSocketDirection, opcode: UInt8, timestamp: Int64, body: BodyReference) {
        self.direction = direction
        self.opcode = opcode
        self.timestamp = timestamp
        self.body = body
    }
}

extension CaptureFrame.Kind {
    /// ingestd → sessiond: JSON ``CaptureRecord``; sequence = ingestd's delivery sequence.
    public static let record = CaptureFrame.Kind(rawValue: 20)
}
