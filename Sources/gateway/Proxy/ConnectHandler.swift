import Logging
import NIOCore
import NIOHTTP1

/// Answers `CONNECT host:port` on the listener connection and hands the connection over to TLS.
///
/// Everything that is not a CONNECT passes through to the relay (absolute-form `http://` requests).
final class ConnectHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case passing
        case awaitingEnd(UpstreamTarget)
        case refused
    }

    private var state = State.passing
    private let pipeline: ProxyPipeline
    private let connection: ConnectionInfo

    init(pipeline: ProxyPipeline, connection: ConnectionInfo) {
        self.pipeline = pipeline
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.passing, .head(let head)) where head.method == .CONNECT:
            let classifier = RequestClassifier(tunnel: nil, maxHeaderBytes: pipeline.services.configuration.gateway.maxHeaderBytes)
            switch classifier.classify(head) {
            case .openTunnel(let target):
                state = .awaitingEnd(target)
            case .reject(let status, let reason):
                state = .refused
                GatewayAnswer.write(status, reason: reason, close: true, context: context, wrap: wrapOutboundOut)
            case .relay:
                state = .refused
                GatewayAnswer.write(.badRequest, reason: "malformed CONNECT", close: true, context: context,
                                    wrap: wrapOutboundOut)
            }
        case (.passing, _):
            context.fireChannelRead(data)
        case (.awaitingEnd(let target), .end):
            openTunnel(context: context, target: target)
        case (.awaitingEnd, _), (.refused, _):
            break
        }
    }

    private func openTunnel(context: ChannelHandlerContext, target: UpstreamTarget) {
        // RFC 9110 §9.3.6: a 2xx to CONNECT carries no body and no framing headers; the encoder knows it
        // answers a CONNECT and frames it so.
        let head = HTTPResponseHead(version: .http1_1, status: .ok)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        let channel = context.channel
        do {
            try pipeline.switchToTunnel(channel, target: target, connection: connection)
        } catch {
            pipeline.services.logger.notice("cannot open tunnel", metadata: [
                "host": "\(target.host)", "error": "\(error)",
            ])
            channel.close(promise: nil)
        }
    }
}
