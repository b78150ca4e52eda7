import NIOCore
import Shared

/// After a 101, relays raw bytes between the agent and the upstream unchanged — RSV bits, fragmentation,
/// control frames, compression all pass as they are — and shows a copy to the ``WebSocketSession``.
///
/// One instance per side; each writes to its peer's channel and stops reading while the peer cannot
/// take more.
final class WebSocketRelayHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let session: WebSocketSession
    private let direction: WebSocketDirection
    private var context: ChannelHandlerContext?
    weak var peer: WebSocketRelayHandler?
    private var readsPaused = false
    private var readPending = false

    init(session: WebSocketSession, inbound direction: WebSocketDirection) {
        self.session = session
        self.direction = direction
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        peer?.forward(buffer)
        session.observe(buffer, direction: direction)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        peer?.context?.flush()
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused { readPending = true } else { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { peer?.resume() } else { peer?.pause() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.end(error: nil)
        peer?.context?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        session.end(error: error)
        context.close(promise: nil)
        peer?.context?.close(promise: nil)
    }

    private func forward(_ buffer: ByteBuffer) {
        guard let context else { return }
        context.write(wrapOutboundOut(buffer), promise: nil)
        if !context.channel.isWritable { peer?.pause() }
    }

    private func pause() {
        readsPaused = true
    }

    private func resume() {
        guard readsPaused else { return }
        readsPaused = false
        if readPending, let context {
            readPending = false
            context.read()
        }
    }
}
