import NIOCore
import NIOHTTP1
import NIOSSL
import NIOTLS

/// What an upstream connection tells the exchange that is using it. Called on the shared event loop.
protocol UpstreamDelegate: AnyObject {
    func upstreamResponsePart(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(writable: Bool)
    func upstreamClosed(error: (any Error)?)
}

/// The last handler of an upstream connection's pipeline: hands response parts to the current exchange and
/// holds reads back while the client cannot take more (backpressure both ways, no buffering).
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let target: UpstreamTarget
    weak var delegate: (any UpstreamDelegate)?
    private var context: ChannelHandlerContext?
    private var readsPaused = false
    private var readPending = false
    private var closedError: (any Error)?
    private(set) var isClosed = false
    private let ready: EventLoopPromise<UpstreamConnection>

    init(target: UpstreamTarget, ready: EventLoopPromise<UpstreamConnection>) {
        self.target = target
        self.ready = ready
    }

    var channel: (any Channel)? { context?.channel }
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The context holds this handler: keeping it past removal would keep the whole pipeline (both TLS
    /// buffers) alive for every upstream connection closed mid-response.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        delegate = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        if !target.tls { ready.succeed(self) }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            ready.succeed(self)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        delegate?.upstreamResponsePart(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        delegate?.upstreamWritabilityChanged(writable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closedError == nil { closedError = error }
        ready.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        ready.fail(UpstreamClosedError())
        delegate?.upstreamClosed(error: closedError)
        delegate = nil
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    // MARK: used by the exchange

    func write(_ part: HTTPClientRequestPart, flush: Bool = false) {
        guard let context else { return }
        context.write(wrapOutboundOut(part), promise: nil)
        if flush { context.flush() }
    }

    func flush() {
        context?.flush()
    }

    func pauseReads() {
        readsPaused = true
    }

    func resumeReads() {
        guard readsPaused else { return }
        readsPaused = false
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    /// Hands the connection's pipeline over to a WebSocket relay: the HTTP codec and this handler leave,
    /// `relay` takes their place (bytes the decoder already read after the 101 are forwarded to it).
    func switchToRawRelay(_ relay: WebSocketRelayHandler) throws {
        guard let context else { throw UpstreamClosedError() }
        delegate = nil
        let sync = context.pipeline.syncOperations
        try sync.addHandler(relay, position: .last)
        let encoder = try sync.handler(type: HTTPRequestEncoder.self)
        let decoder = try sync.handler(type: ByteToMessageHandler<HTTPResponseDecoder>.self)
        sync.removeHandler(context: context, promise: nil)
        sync.removeHandler(encoder, promise: nil)
        sync.removeHandler(decoder, promise: nil)
    }

    func close() {
        delegate = nil
        context?.close(promise: nil)
    }
}

/// The upstream closed the connection before it was usable.
struct UpstreamClosedError: Error, CustomStringConvertible {
    var description: String { "the upstream closed the connection" }
}
