import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// `run/session.sock`: ingestd connects and sends records. What one read brought is one batch (batch by
/// what is waiting, not by a timer), written in one transaction and acknowledged cumulatively after the
/// commit. While the database refuses writes the batch is retried with backoff and nothing is acknowledged.
final class RecordServer: Service, @unchecked Sendable {
    private let path: String
    private let processor: RecordProcessor
    private let group: any EventLoopGroup
    private let logger: Logger
    private let onListening: @Sendable () -> Void

    init(path: String, processor: RecordProcessor, group: any EventLoopGroup, logger: Logger,
         onListening: @escaping @Sendable () -> Void) {
        self.path = path
        self.processor = processor
        self.group = group
        self.logger = logger
        self.onListening = onListening
    }

    func run() async throws {
        try UnixSocketPath.removeStale(path)
        let processor = self.processor
        let logger = self.logger
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(CaptureFrameDecoder(maximumFrameLength: 64 * 1024 * 1024)),
                        RecordConnectionHandler(processor: processor, logger: logger),
                    ])
                }
            }
            .bind(unixDomainSocketPath: path).get()
        try UnixSocketPath.restrict(path)
        logger.info("record socket listening", metadata: ["path": "\(path)"])
        onListening()
        try? await gracefulShutdown()
        try? await server.close()
        unlink(path)
    }
}

/// One ingestd connection: collects the records of each read into a batch and hands batches, in order,
/// to writer tasks; writes each batch's ack after its commit. Two batches may be in hand at once: the next one is
/// prepared (decoded, its bodies read and parsed) while the one before it is written, so parsing and the
/// database write overlap; it is committed only after the one before it, and only if that one was, so
/// sessions follow delivery order and acks stay cumulative. Reads stop while two batches are in hand, so a slow
/// database slows ingestd's delivery instead of growing this process.
final class RecordConnectionHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = CaptureFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Batches handed to writer tasks and not yet written: one being written, one being prepared.
    static let batchesInHand = 2

    private let processor: RecordProcessor
    private let logger: Logger
    private var greeted = false
    private var batch: [(UInt64, ByteBuffer)] = []
    private var inHand = 0
    /// The writer task of the batch handed over last: true once its batch is committed.
    private var lastWriter: Task<Bool, Never>?
    private var readPending = false
    private var context: ChannelHandlerContext?

    init(processor: RecordProcessor, logger: Logger) {
        self.processor = processor
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard greeted else {
            guard frame.kind == .hello else {
                logger.notice("a client spoke before saying hello; closing")
                context.close(promise: nil)
                return
            }
            greeted = true
            return
        }
        if frame.kind == .record { batch.append((frame.sequence, frame.payload)) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        startWriting()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if inHand >= Self.batchesInHand { readPending = true } else { context.read() }
    }

    private func startWriting() {
        guard inHand < Self.batchesInHand, !batch.isEmpty, let context else { return }
        inHand += 1
        let work = batch
        batch.removeAll(keepingCapacity: true)
        let loop = context.eventLoop
        let channel = context.channel
        let processor = self.processor
        let logger = self.logger
        let before = lastWriter
        lastWriter = Task {
            // While the batch before is written.
            let prepared = await processor.prepare(work)
            var committed = false
            if await before?.value ?? true {
                var delay: Duration = .milliseconds(100)
                while channel.isActive {
                    do {
                        try await processor.process(prepared)
                        committed = true
                        break
                    } catch {
                        logger.error("database write failed; will retry", metadata: ["error": "\(error)", "records": "\(work.count)"])
                        try? await Task.sleep(for: delay)
                        delay = min(delay * 2, .seconds(5))
                    }
                }
            }
            // The batch before was not committed (the connection closed first): neither is this one, or its
            // sessions would be assigned before that batch's; ingestd sends both again on its next connection.
            let acknowledged = committed ? prepared.lastSequence : nil
            loop.execute { self.written(lastSequence: acknowledged, channel: channel) }
            return committed
        }
    }

    private func written(lastSequence: UInt64?, channel: any Channel) {
        inHand -= 1
        if let last = lastSequence, channel.isActive {
            var out = ByteBuffer()
            CaptureFrameCodec.encode(.ack(last), into: &out)
            channel.writeAndFlush(out, promise: nil)
        }
        startWriting()
        if readPending, inHand < Self.batchesInHand, let context {
            readPending = false
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.notice("closing a record connection after bad input", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
