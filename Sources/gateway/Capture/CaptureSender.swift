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
        var spooledBytes: Int = 0
        var spoolFailures: UInt64 = 0
        /// Frames from ingestd's socket that were not acks it could read.
        var unreadableAcks: UInt64 = 0
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
        /// Once a frame went to the spool, later ones follow it there until it drains, keeping order.
        var spooling = false
        var spoolAppends: [ByteBuffer] = []
        var spoolAppendScheduled = false
        var reloading = false
        var statistics = Statistics()
    }

    let gatewayID: String
    private let socketPath: String
    private let memoryLimit: Int
    private let spool: CaptureSpool?
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private var backoff: TimeAmount = .milliseconds(50)

    init(socketPath: String, gatewayID: String, memoryLimit: Int, spool: CaptureSpool? = nil, eventLoop: any EventLoop,
         logger: Logger) {
        self.socketPath = socketPath
        self.gatewayID = gatewayID
        self.memoryLimit = memoryLimit
        self.spool = spool
        self.eventLoop = eventLoop
        var logger = logger
        logger[metadataKey: "gateway_id"] = "\(gatewayID)"
        self.logger = logger
    }

    var statistics: Statistics { state.withLockedValue { $0.statistics } }

    /// New exchanges are admitted while there is headroom, and not again after a drop until the buffer has
    /// drained to half, so the gateway does not flap between admitting and refusing.
    var admitsNewExchanges: Bool {
        state.withLockedValue { state in
            guard !state.statistics.saturated else { return false }
            if !state.spooling && state.statistics.bufferedBytes < memoryLimit - memoryLimit / 8 { return true }
            guard let spool else { return false }
            return state.statistics.spooledBytes < spool.limit - spool.limit / 8
        }
    }

    func recordLoss() {
        state.withLockedValue { $0.statistics.exchangesLost += 1 }
    }

    func emit(_ kind: CaptureFrame.Kind, exchangeID: UUID, timestamp: Int64, payload: ByteBuffer) {
        enum Next { case nothing, flush, spoolAppend }
        let next: Next = state.withLockedValue { state in
            let sequence = state.nextSequence
            let frame = CaptureFrame(kind: kind, sequence: sequence, exchangeID: exchangeID, timestamp: timestamp,
                                     payload: payload)
            let size = CaptureFrameCodec.encodedLength(frame)
            let toMemory = !state.spooling && state.statistics.bufferedBytes + size <= memoryLimit
            let toSpool = !toMemory && spool.map { state.statistics.spooledBytes + size <= $0.limit } == true
            guard toMemory || toSpool else {
                // Over both bounds: this frame cannot be made durable. Count it; the exchange's record will be
                // incomplete and new exchanges are refused or passed per capture.on_failure.
                state.statistics.framesDropped += 1
                state.statistics.saturated = true
                return .nothing
            }
            state.nextSequence += 1
            state.statistics.framesEmitted += 1
            var bytes = ByteBufferAllocator().buffer(capacity: size)
            CaptureFrameCodec.encode(frame, into: &bytes)
            if toSpool {
                state.spooling = true
                state.statistics.spooledBytes += size
                state.spoolAppends.append(bytes)
                guard !state.spoolAppendScheduled else { return .nothing }
                state.spoolAppendScheduled = true
                return .spoolAppend
            }
            state.unacknowledged.append(Pending(sequence: sequence, bytes: bytes))
            state.statistics.bufferedBytes += size
            guard state.channel != nil, !state.flushScheduled else { return .nothing }
            state.flushScheduled = true
            return .flush
        }
        switch next {
        case .nothing: break
        case .flush: eventLoop.execute { self.flush() }
        case .spoolAppend: eventLoop.execute { self.appendToSpool() }
        }
    }

    /// Hands the frames that overflowed memory to the spool's I/O queue, in order.
    private func appendToSpool() {
        guard let spool else { return }
        let frames: [ByteBuffer] = state.withLockedValue { state in
            state.spoolAppendScheduled = false
            defer { state.spoolAppends.removeAll() }
            return state.spoolAppends
        }
        spool.append(frames) { ok in
            if !ok {
                self.logger.error("cannot write the capture spool; frames are lost", metadata: ["path": "\(spool.path)"])
                self.state.withLockedValue {
                    $0.statistics.spoolFailures += 1
                    $0.statistics.saturated = true
                }
            }
            self.reloadFromSpoolIfRoom()
        }
    }

    /// Moves spooled frames back into memory (to be sent) while memory is at most half full.
    private func reloadFromSpoolIfRoom() {
        guard let spool else { return }
        let room: Int? = state.withLockedValue { state in
            guard state.spooling, !state.reloading, state.statistics.bufferedBytes <= memoryLimit / 2 else { return nil }
            state.reloading = true
            return memoryLimit - state.statistics.bufferedBytes
        }
        guard let room else { return }
        spool.readFront(maxBytes: max(room, 1)) { frames in
            let flush: Bool = self.state.withLockedValue { state in
                state.reloading = false
                for bytes in frames {
                    guard let sequence = bytes.getInteger(at: bytes.readerIndex + 6, as: UInt64.self) else { continue }
                    state.unacknowledged.append(Pending(sequence: sequence, bytes: bytes))
                    state.statistics.bufferedBytes += bytes.readableBytes
                    state.statistics.spooledBytes -= bytes.readableBytes
                }
                if state.statistics.spooledBytes <= 0 && state.spoolAppends.isEmpty && !state.spoolAppendScheduled {
                    // The spool is drained: new frames may go to memory again.
                    state.statistics.spooledBytes = 0
                    state.spooling = false
                }
                guard !frames.isEmpty, state.channel != nil, !state.flushScheduled else { return false }
                state.flushScheduled = true
                return true
            }
            if flush { self.eventLoop.execute { self.flush() } }
        }
    }

    /// Writes every frame not yet written to the current connection. Runs on the sender's loop.
    private func flush() {
        let (channel, frames): ((any Channel)?, [ByteBuffer]) = state.withLockedValue { state in
            state.flushScheduled = false
            guard let channel = state.channel else { return (nil, []) }
            // The unwritten frames are a suffix (sequences ascend): walk back to where it starts, so a flush
            // costs what it writes, not what is still waiting for an ack.
            let queue = state.unacknowledged
            var start = queue.endIndex
            while start > queue.startIndex {
                let previous = queue.index(before: start)
                if queue[previous].sequence <= state.writtenThrough { break }
                start = previous
            }
            let frames = queue[start...].map(\.bytes)
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
            if state.statistics.saturated && state.statistics.bufferedBytes <= memoryLimit / 2
                && state.statistics.spooledBytes <= (spool?.limit ?? 0) / 2 {
                state.statistics.saturated = false
            }
        }
        reloadFromSpoolIfRoom()
    }

    /// The peer sent something other than an ack (or an ack without a sequence): it is not ingestd.
    fileprivate func unreadableAck(kind: CaptureFrame.Kind) {
        state.withLockedValue { $0.statistics.unreadableAcks += 1 }
        logger.error("ingestd's socket answered with a frame that is not an ack; reconnecting",
                     metadata: ["kind": "\(kind)", "path": "\(socketPath)"])
    }

    /// Starts connecting (and reconnecting) until ``stop()``.
    func start() {
        eventLoop.execute { self.connect() }
    }

    func stop() {
        defer { spool?.close() }
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
        // Flushed on its own: ingestd learns who we are even before the first exchange.
        channel.writeAndFlush(helloBytes, promise: nil)
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
        } else {
            // A peer that does not speak the protocol: nothing it sends can release frames, so say so
            // instead of quietly filling the buffer and the spool.
            sender.unreadableAck(kind: frame.kind)
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
