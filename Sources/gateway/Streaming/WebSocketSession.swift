import Logging
import NIOCore
import Shared

/// The capture side of one relayed WebSocket connection: both directions' parsers and inflaters and the
/// exchange's recorder. Shared by the two relay handlers, which run on the same event loop.
final class WebSocketSession {
    private var recorder: ExchangeRecorder?
    private var parsers: [WebSocketDirection: WebSocketFrameParser]
    private var inflaters: [WebSocketDirection: RawInflater] = [:]
    private let deflate: PermessageDeflate
    private let maxMessageBytes: Int
    private var sawClose = false
    private var parseFailed = false
    private var ended = false
    private let logger: Logger

    init(recorder: ExchangeRecorder?, deflate: PermessageDeflate, configuration: Configuration.Gateway, logger: Logger) {
        self.recorder = recorder
        self.deflate = deflate
        self.maxMessageBytes = configuration.webSocketMaxMessageBytes
        self.logger = logger
        let parser = WebSocketFrameParser(maxFrameBytes: configuration.webSocketMaxFrameBytes,
                                          maxMessageBytes: configuration.webSocketMaxMessageBytes)
        self.parsers = [.clientToUpstream: parser, .upstreamToClient: parser]
    }

    /// Bytes that crossed in `direction`, already forwarded unchanged; recorded as messages.
    func observe(_ buffer: ByteBuffer, direction: WebSocketDirection) {
        guard !parseFailed, var parser = parsers[direction] else { return }
        let messages: [WebSocketFrameParser.Message]
        do {
            messages = try buffer.withUnsafeReadableBytes { try parser.feed($0) }
        } catch {
            // The relay goes on (the peers may know better); the capture says it lost track.
            parseFailed = true
            logger.notice("websocket capture stopped: unparseable frames", metadata: ["error": "\(error)"])
            return
        }
        parsers[direction] = parser
        for message in messages { record(message, direction: direction) }
    }

    private func record(_ message: WebSocketFrameParser.Message, direction: WebSocketDirection) {
        var payload = message.payload
        if message.compressed && deflate.enabled && !message.truncated {
            do {
                let inflater = try inflater(for: direction)
                payload = try inflater.inflateMessage(message.payload, limit: maxMessageBytes)
                let resets = direction == .clientToUpstream ? deflate.clientNoContextTakeover : deflate.serverNoContextTakeover
                if resets { inflater.reset() }
            } catch {
                logger.notice("websocket message could not be inflated; recording it compressed",
                              metadata: ["error": "\(error)"])
            }
        }
        if message.opcode == 0x8 { sawClose = true }
        recorder?.webSocketMessage(direction: direction, opcode: message.opcode, payload: ByteBuffer(bytes: payload))
    }

    private func inflater(for direction: WebSocketDirection) throws -> RawInflater {
        if let existing = inflaters[direction] { return existing }
        let created = try RawInflater()
        inflaters[direction] = created
        return created
    }

    /// Either side went away; the first call ends the exchange.
    func end(error: (any Error)?) {
        guard !ended else { return }
        ended = true
        if sawClose {
            recorder?.end(.webSocketClosed, error: error.map { "after the close handshake: \($0)" })
        } else {
            recorder?.end(.webSocketClosed, error: "connection dropped without a close frame" + (error.map { " (\($0))" } ?? ""))
        }
    }
}
