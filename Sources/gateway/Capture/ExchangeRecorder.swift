import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import Shared

/// The capture side of one exchange: turns what the relay sees into frames, as it sees it.
///
/// Owned by the relay handler on the client's event loop. It hashes the bytes as they crossed the wire,
/// redacts credential headers and (optionally) secrets in bodies, and never holds a body: each chunk
/// becomes a frame at once (less what the redactor must hold back to decide on a split secret).
struct ExchangeRecorder {
    let id: UUID
    private let sink: any CaptureSink
    private let redactor: CredentialRedactor
    private let startedAt: Int64
    private var requestHash = SHA256()
    private var responseHash = SHA256()
    private let redactBodies: Bool
    private var requestRedactor: BodyRedactor = .none
    private var responseRedactor: BodyRedactor = .none
    private var messageRules: [String] = []
    private(set) var requestBytes: Int64 = 0
    private(set) var responseBytes: Int64 = 0
    private var firstResponseByteAt: Int64?
    private(set) var status: Int?
    /// Whether the response is a server-sent event stream (known once its head has been seen).
    private(set) var streamed = false
    private var webSocket = false
    private(set) var ended = false

    init(sink: any CaptureSink, redactor: CredentialRedactor, redactBodies: Bool, begin: ExchangeBegin) {
        self.id = UUID()
        self.sink = sink
        self.redactor = redactor
        self.startedAt = begin.startedAt
        self.redactBodies = redactBodies
        let contentType = begin.headers.first { $0.first?.lowercased() == "content-type" }?.last
        requestRedactor = .forBody(contentType: contentType, enabled: redactBodies)
        sink.emit(.exchangeBegin, exchangeID: id, timestamp: CaptureFrame.now(), payload: ByteBuffer(bytes: begin.jsonBytes()))
    }

    /// The begin record for a request head, credential headers redacted.
    static func begin(
        head: HTTPRequestHead, target: UpstreamTarget, path: String, connection: ConnectionInfo,
        redactor: CredentialRedactor
    ) -> ExchangeBegin {
        var client = connection.client
        client.userAgent = head.headers.first(name: "user-agent")
        if let auth = head.headers.first(name: "proxy-authorization") {
            client.proxyUser = ProxyAuthorization.user(from: auth)
        }
        return ExchangeBegin(
            gatewayID: connection.gatewayID, connectionID: connection.id, scheme: target.tls ? "https" : "http",
            host: target.host, port: target.port, method: head.method.rawValue, path: path,
            httpVersion: "HTTP/\(head.version.major).\(head.version.minor)",
            headers: redactor.redact(headers: head.headers.map { ($0.name, $0.value) }),
            client: client, startedAt: CaptureFrame.now()
        )
    }

    mutating func requestBody(_ buffer: ByteBuffer) {
        requestBytes += Int64(buffer.readableBytes)
        buffer.withUnsafeReadableBytes { requestHash.update(bufferPointer: $0) }
        emitBody(.requestBody, buffer, redactor: &requestRedactor)
    }

    mutating func responseHead(_ head: HTTPResponseHead, synthetic: Bool = false) {
        markFirstByte()
        status = Int(head.status.code)
        let contentType = head.headers.first(name: "content-type") ?? ""
        streamed = contentType.hasPrefix("text/event-stream")
        responseRedactor = .forBody(contentType: contentType, enabled: redactBodies)
        let record = ResponseHead(
            status: Int(head.status.code), reason: head.status.reasonPhrase,
            httpVersion: "HTTP/\(head.version.major).\(head.version.minor)",
            headers: redactor.redact(headers: head.headers.map { ($0.name, $0.value) }), synthetic: synthetic
        )
        sink.emit(.responseHead, exchangeID: id, timestamp: CaptureFrame.now(), payload: ByteBuffer(bytes: record.jsonBytes()))
    }

    mutating func responseBody(_ buffer: ByteBuffer) {
        markFirstByte()
        responseBytes += Int64(buffer.readableBytes)
        buffer.withUnsafeReadableBytes { responseHash.update(bufferPointer: $0) }
        emitBody(.responseBody, buffer, redactor: &responseRedactor)
    }

    /// One complete WebSocket message (already inflated), in either direction.
    mutating func webSocketMessage(direction: WebSocketDirection, opcode: UInt8, payload: ByteBuffer) {
        webSocket = true
        var frame = ByteBufferAllocator().buffer(capacity: payload.readableBytes + 2)
        frame.writeInteger(direction.rawValue)
        frame.writeInteger(opcode)
        if redactBodies {
            // Each message is redacted whole: a message is complete when it gets here.
            var redactor = StreamingSecretRedactor()
            let clean = payload.withUnsafeReadableBytes { redactor.feed($0) } + redactor.finish()
            frame.writeBytes(clean)
            for rule in redactor.firedRules where !messageRules.contains(rule) { messageRules.append(rule) }
        } else {
            var copy = payload
            frame.writeBuffer(&copy)
        }
        sink.emit(.webSocketMessage, exchangeID: id, timestamp: CaptureFrame.now(), payload: frame)
    }

    mutating func end(_ outcome: ExchangeOutcome, error: String? = nil) {
        guard !ended else { return }
        ended = true
        flushRedactor(.requestBody, &requestRedactor)
        flushRedactor(.responseBody, &responseRedactor)
        var fired: [String] = []
        for rule in requestRedactor.firedRules + responseRedactor.firedRules + messageRules where !fired.contains(rule) {
            fired.append(rule)
        }
        let record = ExchangeEnd(
            outcome: outcome, error: error, status: status, endedAt: CaptureFrame.now(),
            timeToFirstByte: firstResponseByteAt.map { $0 - startedAt },
            requestBytes: requestBytes, responseBytes: responseBytes,
            requestWireSHA256: Hex.string(requestHash.finalize()), responseWireSHA256: Hex.string(responseHash.finalize()),
            redactions: fired,
            streamed: streamed, webSocket: webSocket
        )
        sink.emit(.exchangeEnd, exchangeID: id, timestamp: CaptureFrame.now(), payload: ByteBuffer(bytes: record.jsonBytes()))
    }

    // MARK: -

    private mutating func markFirstByte() {
        if firstResponseByteAt == nil { firstResponseByteAt = CaptureFrame.now() }
    }

    private func emitBody(_ kind: CaptureFrame.Kind, _ buffer: ByteBuffer, redactor: inout BodyRedactor) {
        guard buffer.readableBytes > 0 else { return }
        let clean = redactor.feed(buffer)
        guard clean.readableBytes > 0 else { return }
        sink.emit(kind, exchangeID: id, timestamp: CaptureFrame.now(), payload: clean)
    }

    private func flushRedactor(_ kind: CaptureFrame.Kind, _ redactor: inout BodyRedactor) {
        let rest = redactor.finish()
        guard !rest.isEmpty else { return }
        sink.emit(kind, exchangeID: id, timestamp: CaptureFrame.now(), payload: ByteBuffer(bytes: rest))
    }

}

/// What the gateway knows about a client connection when it is accepted.
struct ConnectionInfo: Sendable {
    var id: UInt64
    var gatewayID: String
    let attribution: ClientAttributionBox

    init(id: UInt64, gatewayID: String, client: ClientAttribution) {
        self.id = id
        self.gatewayID = gatewayID
        self.attribution = ClientAttributionBox(client)
    }

    /// What is known about the client now (the /proc lookup may still be running).
    var client: ClientAttribution { attribution.current }
}

/// The user name of a `Proxy-Authorization: Basic …` header (the password is never kept).
enum ProxyAuthorization {
    static func user(from header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let data = Data(base64Encoded: String(parts[1])), let text = String(data: data, encoding: .utf8)
        else { return nil }
        return text.split(separator: ":", maxSplits: 1).first.map(String.init)
    }
}
