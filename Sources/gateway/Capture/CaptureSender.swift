import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Shared

/// Where exchanges send their frames. The relay never waits on it.
protocol CaptureSink: Sendable {
    /// Numbers, buffers and sends one frame.
    func emit(_ kind: CaptureFrame.Kind, exchangeID: UUID, timestamp: Int64, payload: ByteBuffer)
    /// False when capture cannot be made durable (ingestd gone and the buffers full): new exchanges then
    /// follow `capture.on_failure`.
    var admitsNewExchanges: Bool { get }
    /// Counts an exchange that passed unrecorded under `capture.on_failure: pass`.
    func recordLoss()
}

/// Streams frames to ingestd over `run/ingest.sock`, keeps every frame until ingestd acknowledges it
/// (after its fsync), and resends the unacknowledged ones in order after a reconnect.
///
/// Frames are numbered under one lock in the order exchanges emit them, so each exchange's frames stay
/// in order. Writes are batched: one hop to the sender's event loop per burst, not per frame.
final class CaptureSender: CaptureSink, @unchecked Sendable {
    struct Statistics: Sendable, Equatable {
        var framesEmitted: UInt64 = 0
        var framesAcknowledged: UInt64 = 0
        var bufferedBytes: Int = 0
        var framesDropped: UInt64 = 0
        var exchangesLost: UInt64 = 0
        var connected = false
        var reconnects: UInt64 = 0
        /// Set when a frame had to be dropped; cleared once the buffer drained to half the bound.
        var saturated = false
    }

    private struct Pending {
        var sequence: UInt64
        var bytes: ByteBuffer
    }

    private struct State {
        var nextSequence: UInt64 = 1
        var unacknowledged = CircularBuffer<Pending>(initialCapacity: 1024)
        /// The highest sequence written to the current connection.
        var writtenThrough: UInt64 = 0
        var channel: (any Channel)?
        var flushScheduled = false
        var stopped = false
        var statistics = Statistics()
    }

    let gatewayID: String
    private let socketPath: String
    private let memoryLimit: Int
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private var backoff: TimeAmount = .milliseconds(50)

    init(socketPath: String, gatewayID: String, memoryLimit: Int, eventLoop: any EventLoop, logger: Logger) {
        self.socketPath = socketPath
        self.gatewayID = gatewayID
        self.memoryLimit = memoryLimit
        self.eventLoop = eventLoop
        var logger = logger
        logger[metadataKey: "gateway_id"] = "\(gatewayID)"
        self.logger = logger
    }

    var statistics: Statistics { state.withLockedValue { $0.statistics } }

    /// New exchanges are admitted while there is headroom, and not again after a drop until the buffer has
    /// drained to half, so the gateway does not flap between admitting and refusing.
    var admitsNewExchanges: Bool {
        state.withLockedValue { !$0.statistics.saturated && $0.statistics.bufferedBytes < memoryLimit - memoryLimit / 8 }
    }

    func recordLoss() {
        state.withLockedValue { $0.statistics.exchangesLost += 1 }
    }

    func emit(_ kind: CaptureFrame.Kind, exchangeID: UUID, timestamp: Int64, payload: ByteBuffer) {
        let scheduleFlush: Bool = state.withLockedValue { state in
            let sequence = state.nextSequence
            let frame = CaptureFrame(kind: kind, sequence: sequence, exchangeID: exchangeID, timestamp: timestamp,
                                     payload: payload)
            let size = CaptureFrameCodec.encodedLength(frame)
            guard state.statistics.bufferedBytes + size <= memoryLimit else {
                // Over the bound: this frame cannot be made durable. Count it; the exchange's record will be
                // incomplete and new exchanges are refused or passed per capture.on_failure.
                state.statistics.framesDropped += 1
                state.statistics.saturated = true
                return false
            }
            state.nextSequence += 1
            var bytes = ByteBufferAllocator().buffer(capacity: size)
            CaptureFrameCodec.encode(frame, into: &bytes)
            state.unacknowledged.append(Pending(sequence: sequence, bytes: bytes))
            state.statistics.bufferedBytes += size
            state.statistics.framesEmitted += 1
            guard state.channel != nil, !state.flushScheduled else { return false }
            state.flushScheduled = true
            return true
        }
        if scheduleFlush {
            eventLoop.execute { self.flush() }
        }
    }

    /// Writes every frame not yet written to the current connection. Runs on the sender's loop.
    private func flush() {
        let (channel, frames): ((any Channel)?, [ByteBuffer]) = state.withLockedValue { state in
            state.flushScheduled = false
            guard let channel = state.channel else { return (nil, []) }
            var frames: [ByteBuffer] = []
            for pending in state.unacknowledged where pending.sequence > state.writtenThrough {
                frames.append(pending.bytes)
            }
            if let last = state.unacknowledged.last { state.writtenThrough = max(state.writtenThrough, last.sequence) }
            return (channel, frames)
        }
        guard let channel, !frames.isEmpty else { return }
        for frame in frames { channel.write(frame, promise: nil) }
        channel.flush()
    }

    /// Drops every frame up to `sequence`: ingestd has made them durable.
    func acknowledge(_ sequence: UInt64) {
        state.withLockedValue { state in
            while let first = state.unacknowledged.first, first.sequence <= sequence {
                state.statistics.bufferedBytes -= first.bytes.readableBytes
                state.statistics.framesAcknowledged += 1
                state.unacknowledged.removeFirst()
            }
            if state.statistics.saturated && state.statistics.bufferedBytes <= memoryLimit / 2 {
                state.statistics.saturated = false
            }
        }
    }

    /// Starts connecting (and reconnecting) until ``stop()``.
    func start() {
        eventLoop.execute { self.connect() }
    }

    func stop() {
        let channel = state.withLockedValue { state -> (any Channel)? in
            state.stopped = true
            return state.channel
        }
        channel?.close(promise: nil)
    }

    private func connect() {
        guard !state.withLockedValue({ $0.stopped }) else { return }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Outbound frames are already encoded (they are kept encoded until acknowledged), so the
                    // pipeline writes bytes; only the inbound acks need decoding.
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(CaptureFrameDecoder(maximumFrameLength: 4096)),
                        CaptureAckHandler(sender: self),
                    ])
                }
            }
        bootstrap.connect(unixDomainSocketPath: socketPath).whenComplete { result in
            switch result {
            case .success(let channel):
                self.connected(channel)
            case .failure(let error):
                self.logger.debug("ingestd not reachable", metadata: ["error": "\(error)", "path": "\(self.socketPath)"])
                self.scheduleReconnect()
            }
        }
    }

    private func connected(_ channel: any Channel) {
        backoff = .milliseconds(50)
        let hello: CaptureFrame
        do {
            hello = try .json(.hello, exchangeID: CaptureFrame.noExchange,
                              CaptureHello(gatewayID: gatewayID, host: ProcessInfo.processInfo.hostName))
        } catch {
            logger.error("cannot encode hello", metadata: ["error": "\(error)"])
            channel.close(promise: nil)
            return
        }
        let resend: Int = state.withLockedValue { state in
            state.channel = channel
            state.writtenThrough = 0
            state.statistics.connected = true
            state.statistics.reconnects += 1
            return state.unacknowledged.count
        }
        logger.info("connected to ingestd", metadata: ["resending": "\(resend)"])
        var helloBytes = ByteBuffer()
        CaptureFrameCodec.encode(hello, into: &helloBytes)
        channel.write(helloBytes, promise: nil)
        flush()
        channel.closeFuture.whenComplete { _ in self.disconnected() }
    }

    private func disconnected() {
        state.withLockedValue { state in
            state.channel = nil
            state.statistics.connected = false
        }
        logger.notice("lost the connection to ingestd; frames stay buffered until it is back")
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        guard !state.withLockedValue({ $0.stopped }) else { return }
        let delay = backoff
        backoff = min(backoff * 2, .seconds(2))
        eventLoop.scheduleTask(in: delay) { self.connect() }
    }
}

/// Reads ingestd's acks and hands them to the sender.
private final class CaptureAckHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = CaptureFrame
    let sender: CaptureSender

    init(sender: CaptureSender) {
        self.sender = sender
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if let sequence = frame.acknowledgedSequence {
            sender.acknowledge(sequence)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
