import Foundation

/// The first frame on a gateway → ingestd connection.
public struct CaptureHello: Codable, Sendable, Equatable {
    /// Unique per gateway process start, so sequence numbers never collide across restarts.
    public var gatewayID: String
    public var protocolVersion: Int
    public var host: String

    public init(gatewayID: String, protocolVersion: Int = CaptureFrameCodec.version, host: String) {
        self.gatewayID = gatewayID
        self.protocolVersion = protocolVersion
        self.host = host
    }

    enum CodingKeys: String, CodingKey {
        case gatewayID = "gateway_id"
        case protocolVersion = "protocol"
        case host
    }
}

/// Who made a request, as far as the gateway can tell (best effort, from /proc for local clients).
public struct ClientAttribution: Codable, Sendable, Equatable {
    public var address: String
    public var pid: Int32?
    public var uid: UInt32?
    public var executable: String?
    public var workingDirectory: String?
    public var proxyUser: String?
    public var userAgent: String?

    public init(address: String, pid: Int32? = nil, uid: UInt32? = nil, executable: String? = nil,
                workingDirectory: String? = nil, proxyUser: String? = nil, userAgent: String? = nil) {
        self.address = address
        self.pid = pid
        self.uid = uid
        self.executable = executable
        self.workingDirectory = workingDirectory
        self.proxyUser = proxyUser
        self.userAgent = userAgent
    }

    enum CodingKeys: String, CodingKey {
        case address, pid, uid, executable
        case workingDirectory = "cwd"
        case proxyUser = "proxy_user"
        case userAgent = "user_agent"
    }
}

/// An HTTP header as it crossed the wire (credential values already redacted), order kept.
public typealias HeaderPair = [String]

/// `exchange_begin`: everything known when the request head arrived.
public struct ExchangeBegin: Codable, Sendable, Equatable {
    public var gatewayID: String
    public var connectionID: UInt64
    /// `https` for a CONNECT tunnel, `http` for absolute-form requests.
    public var scheme: String
    public var host: String
    public var port: Int
    public var method: String
    public var path: String
    public var httpVersion: String
    public var headers: [HeaderPair]
    public var client: ClientAttribution
    /// Nanoseconds since the epoch when the request head was complete.
    public var startedAt: Int64

    public init(gatewayID: String, connectionID: UInt64, scheme: String, host: String, port: Int, method: String,
                path: String, httpVersion: String, headers: [HeaderPair], client: ClientAttribution, startedAt: Int64) {
        self.gatewayID = gatewayID
        self.connectionID = connectionID
        self.scheme = scheme
        self.host = host
        self.port = port
        self.method = method
        self.path = path
        self.httpVersion = httpVersion
        self.headers = headers
        self.client = client
        self.startedAt = startedAt
    }

    enum CodingKeys: String, CodingKey {
        case gatewayID = "gateway_id"
        case connectionID = "connection_id"
        case scheme, host, port, method, path
        case httpVersion = "http_version"
        case headers, client
        case startedAt = "started_at"
    }
}

/// `response_head`: the upstream's status line and headers (or the gateway's own answer).
public struct ResponseHead: Codable, Sendable, Equatable {
    public var status: Int
    public var reason: String
    public var httpVersion: String
    public var headers: [HeaderPair]
    /// True when the gateway answered itself (502, 503, 400 …) rather than relaying an upstream reply.
    public var synthetic: Bool

    public init(status: Int, reason: String, httpVersion: String, headers: [HeaderPair], synthetic: Bool = false) {
        self.status = status
        self.reason = reason
        self.httpVersion = httpVersion
        self.headers = headers
        self.synthetic = synthetic
    }

    enum CodingKeys: String, CodingKey {
        case status, reason
        case httpVersion = "http_version"
        case headers, synthetic
    }
}

/// How an exchange ended. A struct of well-known values so a new outcome does not break readers.
public struct ExchangeOutcome: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let complete = ExchangeOutcome(rawValue: "complete")
    /// The client went away before the response was complete.
    public static let clientAbort = ExchangeOutcome(rawValue: "client_abort")
    /// The upstream could not be reached, failed TLS, or broke off the response.
    public static let upstreamError = ExchangeOutcome(rawValue: "upstream_error")
    /// The gateway refused the request itself (malformed, smuggling, too large).
    public static let rejected = ExchangeOutcome(rawValue: "rejected")
    /// Capture could not be made durable and `capture.on_failure` is `block`.
    public static let captureUnavailable = ExchangeOutcome(rawValue: "capture_unavailable")
    /// A WebSocket session that ended with a close handshake or a dropped connection.
    public static let webSocketClosed = ExchangeOutcome(rawValue: "websocket_closed")
    /// Set by ingestd when the gateway vanished mid-exchange.
    public static let gatewayLost = ExchangeOutcome(rawValue: "gateway_lost")

    public var description: String { rawValue }
}

/// `exchange_end`: outcome, timings and what the body redactor did.
public struct ExchangeEnd: Codable, Sendable, Equatable {
    public var outcome: ExchangeOutcome
    public var error: String?
    public var status: Int?
    /// Nanoseconds since the epoch.
    public var endedAt: Int64
    /// From the request head to the first response byte, in nanoseconds.
    public var timeToFirstByte: Int64?
    public var requestBytes: Int64
    public var responseBytes: Int64
    /// SHA-256 (hex) of the bodies as they crossed the wire, before redaction.
    public var requestWireSHA256: String
    public var responseWireSHA256: String
    /// The body redaction rules that fired (`aws_access_key`, …).
    public var redactions: [String]
    public var streamed: Bool
    public var webSocket: Bool

    public init(outcome: ExchangeOutcome, error: String? = nil, status: Int?, endedAt: Int64,
                timeToFirstByte: Int64?, requestBytes: Int64, responseBytes: Int64, requestWireSHA256: String,
                responseWireSHA256: String, redactions: [String], streamed: Bool, webSocket: Bool) {
        self.outcome = outcome
        self.error = error
        self.status = status
        self.endedAt = endedAt
        self.timeToFirstByte = timeToFirstByte
        self.requestBytes = requestBytes
        self.responseBytes = responseBytes
        self.requestWireSHA256 = requestWireSHA256
        self.responseWireSHA256 = responseWireSHA256
        self.redactions = redactions
        self.streamed = streamed
        self.webSocket = webSocket
    }

    enum CodingKeys: String, CodingKey {
        case outcome, error, status
        case endedAt = "ended_at"
        case timeToFirstByte = "ttfb_ns"
        case requestBytes = "request_bytes"
        case responseBytes = "response_bytes"
        case requestWireSHA256 = "request_wire_sha256"
        case responseWireSHA256 = "response_wire_sha256"
        case redactions, streamed
        case webSocket = "websocket"
    }
}

/// Which way a WebSocket message went.
public enum WebSocketDirection: UInt8, Codable, Sendable {
    case clientToUpstream = 0
    case upstreamToClient = 1
}
