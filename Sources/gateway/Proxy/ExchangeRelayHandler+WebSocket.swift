import NIOCore
import NIOHTTP1
import Shared

extension ExchangeRelayHandler {
    /// The upstream accepted an upgrade: from here both connections relay raw bytes (every frame exactly as
    /// sent), and the exchange records messages until either side goes away.
    func upgradeToWebSocket(_ exchange: Exchange, head: HTTPResponseHead, context: ChannelHandlerContext) {
        context.flush()
        guard let upstream = exchange.upstream else {
            context.close(promise: nil)
            return
        }
        let deflate = PermessageDeflate(acceptedExtensions: head.headers[canonicalForm: "sec-websocket-extensions"].map(String.init))
        let session = WebSocketSession(recorder: exchange.recorder, deflate: deflate,
                                       configuration: services.configuration.gateway, logger: logger)
        exchange.recorder = nil
        let clientSide = WebSocketRelayHandler(session: session, inbound: .clientToUpstream)
        let upstreamSide = WebSocketRelayHandler(session: session, inbound: .upstreamToClient)
        clientSide.peer = upstreamSide
        upstreamSide.peer = clientSide
        self.exchange = nil
        headTimeout?.cancel()
        do {
            try upstream.switchToRawRelay(upstreamSide)
            let sync = context.pipeline.syncOperations
            try sync.addHandler(clientSide, position: .last)
            // Order matters: the decoder goes last so bytes it already holds flow into the relay.
            for name in [ProxyPipeline.pipeliningName, ProxyPipeline.encoderName] {
                sync.removeHandler(name: name, promise: nil)
            }
            sync.removeHandler(context: context, promise: nil)
            sync.removeHandler(name: ProxyPipeline.decoderName, promise: nil)
        } catch {
            logger.notice("websocket upgrade could not be relayed", metadata: ["error": "\(error)"])
            session.end(error: error)
            upstream.close()
            context.close(promise: nil)
        }
    }
}
