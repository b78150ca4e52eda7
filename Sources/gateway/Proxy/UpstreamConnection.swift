import NIOCore
import NIOHTTP1
import NIOSSL
import NIOTLS
import Synchronization

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
    /// Completed once, then dropped: a completed promise holds its value, and its value is this connection.
    private var ready: EventLoopPromise<UpstreamConnection>?

    /// Upstream connections alive in this process (the status file's `upstream_connections`): a number that
    /// only grows is a leak.
    static let live = Atomic<Int>(0)

    init(target: UpstreamTarget, ready: EventLoopPromise<UpstreamConnection>) {
        self.target = target
        self.ready = ready
        Self.live.add(1, ordering: .relaxed)
    }

    deinit {
        Self.live.subtract(1, ordering: .relaxed)
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
        if !target.tls { resolveReady(nil) }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            resolveReady(nil)
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
        resolveReady(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        resolveReady(UpstreamClosedError())
        delegate?.upstreamClosed(error: closedError)
        delegate = nil
        context.fireChannelInactive()
    }

    /// Succeeds (`error` nil) or fails the connect promise, the first time only.
    private func resolveReady(_ error: (any Error)?) {
        guard let promise = ready else { return }
        ready = nil
        // The connection lives on its channel's loop, and so does whoever waits on the promise.
        if let error { promise.fail(error) } else { promise.assumeIsolated().succeed(self) }
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
