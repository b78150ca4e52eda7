import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// `run/ingest.sock`: accepts gateways, reads their frames, hands them to the coordinator.
final class IngestServer: Service, @unchecked Sendable {
    private let path: String
    private let coordinator: IngestCoordinator
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onListening: @Sendable () -> Void

    init(path: String, coordinator: IngestCoordinator, group: any EventLoopGroup, logger: Logger,
         onListening: @escaping @Sendable () -> Void) {
        self.path = path
        self.coordinator = coordinator
        self.group = group
        self.logger = logger
        self.onListening = onListening
    }

    func run() async throws {
        try UnixSocketPath.removeStale(path)
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(CaptureFrameDecoder()),
                        GatewayConnectionHandler(coordinator: self.coordinator, logger: self.logger),
                    ])
                }
            }
            .bind(unixDomainSocketPath: path).get()
        try UnixSocketPath.restrict(path)
        logger.info("ingest socket listening", metadata: ["path": "\(path)"])
        onListening()
        try? await gracefulShutdown()
        try? await channel.close()
        coordinator.drain()
        unlink(path)
    }
}

/// One gateway connection: hello first, then frames; a batch per read, reads paused while the
/// coordinator cannot accept (WAL full, disk full).
final class GatewayConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = CaptureFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Real ids are `<host>/<uuid>`; anything far beyond that is refused.
    static let maximumGatewayIDBytes = 1024

    private let coordinator: IngestCoordinator
    private var logger: Logger
    private var gatewayID: String?
    private var pending: [CaptureFrame] = []
    private var readPending = false

    init(coordinator: IngestCoordinator, logger: Logger) {
        self.coordinator = coordinator
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let gatewayID else {
            guard frame.kind == .hello, let hello = try? frame.decodeJSON(CaptureHello.self) else {
                logger.notice("a client spoke before saying hello; closing", metadata: ["kind": "\(frame.kind)"])
                context.close(promise: nil)
                return
            }
            // The id goes into every WAL entry behind a 16-bit length; a longer one would trap there.
            guard (1...Self.maximumGatewayIDBytes).contains(hello.gatewayID.utf8.count) else {
                logger.notice("a gateway id must be 1 to \(Self.maximumGatewayIDBytes) bytes; closing",
                              metadata: ["bytes": "\(hello.gatewayID.utf8.count)"])
                context.close(promise: nil)
                return
            }
            self.gatewayID = hello.gatewayID
            logger[metadataKey: "gateway_id"] = "\(hello.gatewayID)"
            coordinator.gatewayConnected(hello.gatewayID)
            logger.info("gateway connected")
            return
        }
        _ = gatewayID
        pending.append(frame)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let gatewayID, !pending.isEmpty {
            coordinator.receive(pending, gatewayID: gatewayID, channel: context.channel)
            pending.removeAll(keepingCapacity: true)
        }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        guard coordinator.isPaused else {
            context.read()
            return
        }
        // Backpressure: the gateway's frames wait in its own buffers until the WAL can take them.
        guard !readPending else { return }
        readPending = true
        context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { [weak self] in
            guard let self else { return }
            self.readPending = false
            self.read(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let gatewayID {
            coordinator.gatewayDisconnected(gatewayID)
            logger.info("gateway disconnected")
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.notice("closing a gateway connection after bad input", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
