import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Shared

/// Sends owed records to sessiond over `run/session.sock` in delivery order, at most `window` ahead of
/// its acknowledgements, and resends everything unacknowledged after a reconnect.
///
/// Runs on its own one-thread event loop, which serves nothing else: reading a record's metadata file
/// there delays only delivery.
final class DeliverySender: @unchecked Sendable {
    private struct State {
        var pending: [DeliveryLog.Entry] = []
        var writtenThrough: UInt64 = 0
        var acknowledgedThrough: UInt64 = 0
        var channel: (any Channel)?
        var flushScheduled = false
        var stopped = false
    }

    private let socketPath: String
    private let state: StateDirectory
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let window: Int
    private let box = NIOLockedValueBox(State())
    private var backoff: TimeAmount = .milliseconds(50)
    /// Called (on the delivery loop) with each new cumulative acknowledgement.
    var onAcknowledged: (@Sendable (UInt64) -> Void)?

    init(state: StateDirectory, eventLoop: any EventLoop, window: Int = 1024, logger: Logger) {
        self.socketPath = state.sessionSocket
        self.state = state
        self.eventLoop = eventLoop
        self.window = window
        self.logger = logger
    }

    var pendingCount: Int { box.withLockedValue { $0.pending.count } }
    var acknowledgedThrough: UInt64 { box.withLockedValue { $0.acknowledgedThrough } }
    var isConnected: Bool { box.withLockedValue { $0.channel != nil } }

    func enqueue(_ entry: DeliveryLog.Entry) {
        let schedule: Bool = box.withLockedValue { s in
            // Entries come in sequence order, so a duplicate is never newer than the last one queued; the
            // linear search is only for that case (it made queueing n owed records at start O(n²)).
            guard entry.seq > s.acknowledgedThrough else { return false }
            if let last = s.pending.last, entry.seq <= last.seq, s.pending.contains(where: { $0.seq == entry.seq }) {
                return false
            }
            s.pending.append(entry)
            guard s.channel != nil, !s.flushScheduled else { return false }
            s.flushScheduled = true
            return true
        }
        if schedule { eventLoop.execute { self.flush() } }
    }

    func start() {
        eventLoop.execute { self.connect() }
    }

    func stop() {
        let channel = box.withLockedValue { s -> (any Channel)? in
            s.stopped = true
            return s.channel
        }
        channel?.close(promise: nil)
    }

    private func flush() {
        let (channel, entries): ((any Channel)?, [DeliveryLog.Entry]) = box.withLockedValue { s in
            s.flushScheduled = false
            guard let channel = s.channel else { return (nil, []) }
            let inFlight = s.pending.filter { $0.seq <= s.writtenThrough }.count
            let room = max(0, window - inFlight)
            let next = Array(s.pending.filter { $0.seq > s.writtenThrough }.prefix(room))
            if let last = next.last { s.writtenThrough = last.seq }
            return (channel, next)
        }
        guard let channel, !entries.isEmpty else { return }
        for entry in entries {
            let path = state.root + "/" + entry.path
            guard let data = FileManager.default.contents(atPath: path) else {
                logger.error("a record owed to sessiond has no metadata file", metadata: ["path": "\(path)"])
                continue
            }
            let frame = CaptureFrame(kind: .record, sequence: entry.seq, exchangeID: entry.captureID,
                                     timestamp: CaptureFrame.now(), payload: ByteBuffer(bytes: data))
            var out = ByteBuffer()
            CaptureFrameCodec.encode(frame, into: &out)
            channel.write(out, promise: nil)
        }
        channel.flush()
    }

    fileprivate func acknowledge(_ seq: UInt64) {
        let (advanced, more): (Bool, Bool) = box.withLockedValue { s in
            guard seq > s.acknowledgedThrough else { return (false, false) }
            s.acknowledgedThrough = seq
            s.pending.removeAll { $0.seq <= seq }
            let more = s.pending.contains { $0.seq > s.writtenThrough } && !s.flushScheduled
            if more { s.flushScheduled = true }
            return (true, more)
        }
        if advanced { onAcknowledged?(seq) }
        if more { flush() }
    }

    private func connect() {
        guard !box.withLockedValue({ $0.stopped }) else { return }
        ClientBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(CaptureFrameDecoder(maximumFrameLength: 4096)),
                        DeliveryAckHandler(sender: self),
                    ])
                }
            }
            .connect(unixDomainSocketPath: socketPath)
            .whenComplete { result in
                switch result {
                case .success(let channel): self.connected(channel)
                case .failure: self.scheduleReconnect()
                }
            }
    }

    private func connected(_ channel: any Channel) {
        backoff = .milliseconds(50)
        let hello = (try? CaptureFrame.json(.hello, exchangeID: CaptureFrame.noExchange,
                                            CaptureHello(gatewayID: "ingestd/\(ProcessInfo.processInfo.hostName)",
                                                         host: ProcessInfo.processInfo.hostName)))
        var out = ByteBuffer()
        if let hello { CaptureFrameCodec.encode(hello, into: &out) }
        let owed: Int = box.withLockedValue { s in
            s.channel = channel
            // Everything unacknowledged goes again, in order.
            s.writtenThrough = s.acknowledgedThrough
            return s.pending.count
        }
        logger.info("connected to sessiond", metadata: ["owed_records": "\(owed)"])
        channel.writeAndFlush(out, promise: nil)
        flush()
        channel.closeFuture.whenComplete { _ in
            self.box.withLockedValue { $0.channel = nil }
            self.logger.notice("lost the connection to sessiond; records wait")
            self.scheduleReconnect()
        }
    }

    private func scheduleReconnect() {
        guard !box.withLockedValue({ $0.stopped }) else { return }
        let delay = backoff
        backoff = min(backoff * 2, .seconds(2))
        eventLoop.scheduleTask(in: delay) { self.connect() }
    }
}

private final class DeliveryAckHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = CaptureFrame
    let sender: DeliverySender

    init(sender: DeliverySender) {
        self.sender = sender
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let seq = unwrapInboundIn(data).acknowledgedSequence { sender.acknowledge(seq) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
