import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Shared

/// The path from a received frame to an acknowledgement and on to a delivered record.
///
/// - WAL queue: drops duplicates by (gateway id, sequence), appends what arrived together in one write
///   and one `fdatasync` (group commit), then acknowledges each gateway's highest durable sequence.
/// - Store queue: applies durable frames to the ``ExchangeAssembler`` (hash, compress, objects), records
///   finished exchanges in the ``DeliveryLog`` and hands them to the ``DeliverySender``; deletes WAL
///   segments nothing needs any more.
/// Neither queue is an event loop: fsync and compression never block the network.
final class IngestCoordinator: @unchecked Sendable {
    /// A gateway connection, as the coordinator sees it.
    struct Peer: Hashable {
        let gatewayID: String
        let channel: ObjectIdentifier
    }

    let wal: WriteAheadLog
    let assembler: ExchangeAssembler
    let deliveryLog: DeliveryLog
    private let logger: Logger
    let walLimit: Int
    let walQueue = DispatchQueue(label: "flightlog.ingestd.wal")
    let storeQueue = DispatchQueue(label: "flightlog.ingestd.store")
    let delivery: DeliverySender

    private struct Batch {
        var entries: [WALEntry] = []
        var frames: [CaptureFrame] = []
        var acks: [ObjectIdentifier: (any Channel, UInt64)] = [:]
        var scheduled = false
    }

    private let batch = NIOLockedValueBox(Batch())
    /// Highest sequence accepted (queued or durable) per gateway, for duplicate detection.
    private let accepted = NIOLockedValueBox<[String: UInt64]>([:])
    let connectedGateways = NIOLockedValueBox<[String: Int]>([:])
    /// Segments of written batches not yet applied by the store queue (how many batches each).
    let unstored = NIOLockedValueBox<[UInt64: Int]>([:])
    /// Payload bytes handed to the store queue and not yet applied (see ``isPaused``).
    let storeBacklog = NIOLockedValueBox(0)
    /// The segment the last batch went to, as the store queue may read it.
    let activeSegment = NIOLockedValueBox<UInt64?>(nil)
    let flags = NIOLockedValueBox((diskFull: false, walBytes: 0, framesDurable: UInt64(0),
                                           exchanges: UInt64(0), duplicates: UInt64(0), errors: UInt64(0),
                                           storeBlocked: String?.none, storeDiskFull: false, stopping: false,
                                           objectsWritten: UInt64(0), objectsDeduplicated: UInt64(0),
                                           gatewayAcked: UInt64(0), writePausedUntil: Date?.none))
    private let startedAt = Date()

    init(wal: WriteAheadLog, assembler: ExchangeAssembler, deliveryLog: DeliveryLog, delivery: DeliverySender,
         walLimit: Int, logger: Logger) {
        self.wal = wal
        self.assembler = assembler
        self.deliveryLog = deliveryLog
        self.delivery = delivery
        self.walLimit = walLimit
        self.logger = logger
    }

    /// Recovers the WAL and replays it through the assembler (finishing what was not finished), one
    /// segment in memory at a time, and queues what is owed to sessiond. Call once, before listening.
    func recover() throws {
        try storeQueue.sync {
            let swept = assembler.removeTemporaries()
            if swept > 0 { logger.notice("removed temporary files an earlier run left in the store", metadata: ["files": "\(swept)"]) }
            var finished: [(CaptureRecord, UInt64)] = []
            var entries = 0
            try wal.recover { segment, entry in
                entries += 1
                var buffer = entry.frame
                guard let frame = try? CaptureFrameCodec.decode(from: &buffer) else { return }
                accepted.withLockedValue { $0[entry.gatewayID] = max($0[entry.gatewayID] ?? 0, frame.sequence) }
                // Already recorded (delivered or owed): nothing to store again.
                if deliveryLog.known.contains(frame.exchangeID) { return }
                if let done = apply(frame, gatewayID: entry.gatewayID, segment: segment) {
                    finished.append((done.record, done.firstSegment))
                }
                if stagedIsFull {
                    record(finished)
                    finished = []
                }
            }
            record(finished)
            for entry in deliveryLog.pending { delivery.enqueue(entry) }
            flags.withLockedValue { $0.walBytes = wal.totalBytes }
            // Nothing else touches the log yet; from here on commit() keeps this up to date.
            activeSegment.withLockedValue { $0 = wal.currentSegment }
            logger.info("recovered", metadata: ["wal_entries": "\(entries)", "open_exchanges": "\(assembler.openCount)",
                                                "owed_records": "\(deliveryLog.pending.count)"])
        }
    }

    /// True while frames must not be accepted: the WAL is over `ingest.wal_max_bytes`, the disk is full, or
    /// the object store cannot be written.
    ///
    /// Also while the store queue is more than ``storeBacklogLimit`` bytes behind: the frames waiting for it
    /// are held in memory, so without this a gateway sending faster than bodies compress would grow this
    /// process up to the whole WAL's size.
    var isPaused: Bool {
        let behind = storeBacklog.withLockedValue { $0 } > Self.storeBacklogLimit
        return behind || flags.withLockedValue {
            ($0.writePausedUntil.map { Date() < $0 } ?? false) || $0.walBytes > walLimit || $0.storeBlocked != nil
        }
    }

    /// Body bytes durable in the WAL but not yet applied by the store queue, beyond which reading pauses.
    static let storeBacklogLimit = 128 * 1024 * 1024

    func gatewayConnected(_ id: String) {
        connectedGateways.withLockedValue { $0[id, default: 0] += 1 }
    }

    func gatewayDisconnected(_ id: String) {
        connectedGateways.withLockedValue {
            $0[id, default: 1] -= 1
            if $0[id] == 0 { $0[id] = nil }
        }
    }

    /// Frames from one connection, in order. Duplicates (a resend after a reconnect) are acknowledged but
    /// not logged twice.
    func receive(_ frames: [CaptureFrame], gatewayID: String, channel: any Channel) {
        var gap: (expected: UInt64, got: UInt64)?
        let schedule: Bool = batch.withLockedValue { batch in
            var highest: UInt64 = 0
            var last: UInt64 = 0
            accepted.withLockedValue { accepted in
                let known = accepted[gatewayID] != nil
                last = accepted[gatewayID] ?? 0
                for frame in frames where frame.sequence > 0 {
                    guard frame.sequence > last else {
                        highest = max(highest, frame.sequence)
                        flags.withLockedValue { $0.duplicates += 1 }
                        continue
                    }
                    // A gateway numbers its frames without gaps. A gap means frames before it were refused
                    // (a failed write rolled the mark back while more were in flight): taking this one
                    // would let a cumulative ack cover frames that were never written.
                    guard !known || last == 0 || frame.sequence == last + 1 else {
                        gap = (last + 1, frame.sequence)
                        break
                    }
                    highest = max(highest, frame.sequence)
                    last = frame.sequence
                    var encoded = ByteBuffer()
                    CaptureFrameCodec.encode(frame, into: &encoded)
                    batch.entries.append(WALEntry(gatewayID: gatewayID, frame: encoded))
                    batch.frames.append(frame)
                }
                accepted[gatewayID] = last
            }
            // Never acknowledge past what was accepted.
            highest = min(highest, last)
            if highest > 0 {
                let key = ObjectIdentifier(channel)
                batch.acks[key] = (channel, max(highest, batch.acks[key]?.1 ?? 0))
            }
            guard !batch.scheduled, !batch.entries.isEmpty || !batch.acks.isEmpty else { return false }
            batch.scheduled = true
            return true
        }
        if schedule { walQueue.async { self.commit() } }
        if let gap {
            logger.notice("frames after a gap; closing so the gateway resends from its last ack", metadata: [
                "gateway_id": "\(gatewayID)", "expected_seq": "\(gap.expected)", "seq": "\(gap.got)",
            ])
            channel.close(promise: nil)
        }
    }

    /// One group commit: everything that arrived since the last one, one append, one fdatasync.
    private func commit() {
        let current: Batch = batch.withLockedValue { batch in
            let taken = batch
            batch = Batch()
            return taken
        }
        let segment: UInt64
        do {
            segment = current.entries.isEmpty ? wal.currentSegment : try wal.append(current.entries)
        } catch let error as IngestError {
            failCommit(current, error: error)
            return
        } catch {
            failCommit(current, error: IngestError(.walUnwritable, "\(error)"))
            return
        }
        flags.withLockedValue {
            $0.walBytes = wal.totalBytes
            $0.framesDurable += UInt64(current.entries.count)
            if $0.diskFull {
                $0.diskFull = false
                logger.notice("the WAL is writable again; acknowledging")
            }
        }
        // Durable: now, and only now, the gateways hear about it.
        let highestAck = current.acks.values.map(\.1).max() ?? 0
        flags.withLockedValue { $0.gatewayAcked = max($0.gatewayAcked, highestAck) }
        for (channel, seq) in current.acks.values {
            var out = ByteBuffer()
            CaptureFrameCodec.encode(.ack(seq), into: &out)
            channel.writeAndFlush(out, promise: nil)
        }
        let frames = zip(current.entries, current.frames).map { ($0.gatewayID, $1) }
        // Until the store queue has applied them, these frames are needed by no exchange the assembler
        // knows: collectSegments must see them here or it could delete their segment.
        activeSegment.withLockedValue { $0 = segment }
        unstored.withLockedValue { $0[segment, default: 0] += 1 }
        let backlog = current.frames.reduce(0) { $0 + $1.payload.readableBytes }
        storeBacklog.withLockedValue { $0 += backlog }
        storeQueue.async {
            self.store(frames, segment: segment)
            self.storeBacklog.withLockedValue { $0 -= backlog }
            self.unstored.withLockedValue {
                $0[segment, default: 1] -= 1
                if $0[segment] == 0 { $0[segment] = nil }
            }
        }
    }

    /// The disk refused the batch: nothing is acknowledged, the accepted marks are rolled back, and the
    /// gateways are disconnected so they resend everything unacknowledged once the disk takes it again.
    private func failCommit(_ batch: Batch, error: IngestError) {
        logger.error("cannot make frames durable; not acknowledging", metadata: ["error": "\(error)"])
        var lowest: [String: UInt64] = [:]
        for (entry, frame) in zip(batch.entries, batch.frames) {
            lowest[entry.gatewayID] = min(lowest[entry.gatewayID] ?? .max, frame.sequence)
        }
        // Frames of those gateways queued behind the failed batch must not be committed either: a later
        // cumulative ack would then cover the frames that were lost. They come again after the reconnect.
        let dropped: [(any Channel, UInt64)] = self.batch.withLockedValue { next in
            var keptEntries: [WALEntry] = []
            var keptFrames: [CaptureFrame] = []
            for (entry, frame) in zip(next.entries, next.frames) {
                if lowest[entry.gatewayID] != nil {
                    lowest[entry.gatewayID] = min(lowest[entry.gatewayID] ?? .max, frame.sequence)
                } else {
                    keptEntries.append(entry)
                    keptFrames.append(frame)
                }
            }
            next.entries = keptEntries
            next.frames = keptFrames
            let droppedAcks = Array(next.acks.values)
            next.acks = [:]
            return droppedAcks
        }
        accepted.withLockedValue { accepted in
            for (gateway, seq) in lowest { accepted[gateway] = seq - 1 }
        }
        for (channel, _) in dropped { channel.close(promise: nil) }
        // Reading pauses for a second; then the gateways' resends try the disk again, and this repeats
        // while it is full. disk_full (and health "failing") stay set until a write succeeds, rather than
        // flapping back to ok between attempts.
        flags.withLockedValue {
            $0.errors += 1
            if error.code == .diskFull { $0.diskFull = true }
            $0.writePausedUntil = Date().addingTimeInterval(1)
        }
        for (channel, _) in batch.acks.values { channel.close(promise: nil) }
    }

    private func store(_ frames: [(String, CaptureFrame)], segment: UInt64) {
        var finished: [(CaptureRecord, UInt64)] = []
        for (gatewayID, frame) in frames {
            if let done = apply(frame, gatewayID: gatewayID, segment: segment) {
                finished.append((done.record, done.firstSegment))
            }
            if stagedIsFull {
                record(finished)
                finished = []
            }
        }
        record(finished)
    }

    /// Whether to commit before the batch ends, which bounds the memory staged files hold.
    private var stagedIsFull: Bool {
        assembler.staged.stagedBytes > 16 << 20 || assembler.staged.count > 1024 || assembler.staged.openFiles >= 64
    }

    /// Applies one durable frame to the assembler. A frame that cannot be used (malformed) is logged and
    /// skipped. Any other failure is the store's (disk full, unwritable directory): the frame is tried
    /// again every second until it goes through — never dropped, since its exchange's object would then
    /// silently miss bytes — and meanwhile nothing new is acknowledged. Runs on the store queue only.
    private func apply(_ frame: CaptureFrame, gatewayID: String, segment: UInt64) -> ExchangeAssembler.Finished? {
        var done: ExchangeAssembler.Finished?
        // Shutting down: leave it; the WAL holds the frame and the next start replays it.
        retryWhileBlocked("cannot store an exchange's objects; not acknowledging until it can",
                          ["exchange_id": "\(frame.exchangeID)"]) {
            do {
                done = try assembler.apply(frame, gatewayID: gatewayID, segment: segment)
            } catch let error as CaptureFrameError {
                flags.withLockedValue { $0.errors += 1 }
                logger.error("cannot use a frame", metadata: ["exchange_id": "\(frame.exchangeID)", "error": "\(error)"])
            }
        }
        return done
    }

    /// Makes finished exchanges owed to sessiond, once their files are durable. Like a frame's store, this
    /// is retried every second while the disk refuses it (and nothing new is acknowledged meanwhile): the
    /// exchanges have already left the assembler, so giving up would lose them. Runs on the store queue only.
    private func record(_ finished: [(CaptureRecord, UInt64)]) {
        // Staged files of exchanges that are still open (WebSocket messages) are committed too: cheap, and
        // it keeps the batch small.
        guard commitStaged() else { return }
        guard !finished.isEmpty else { return }
        retryWhileBlocked("cannot record finished exchanges for delivery; not acknowledging until it can",
                          ["exchanges": "\(finished.count)"]) {
            let entries = try deliveryLog.add(finished)
            flags.withLockedValue { $0.exchanges += UInt64(entries.count) }
            for entry in entries { delivery.enqueue(entry) }
        }
    }

    /// Makes the assembler's staged objects and metadata durable (one pass for the whole batch). False
    /// when it gave up because ingestd is stopping: the WAL still holds the frames, and the next start
    /// finishes those exchanges again.
    private func commitStaged() -> Bool {
        let done = retryWhileBlocked("cannot make stored objects durable; not acknowledging until it can",
                                     ["files": "\(assembler.staged.count)"]) { try assembler.commitStaged() }
        let (written, deduplicated) = (assembler.objectsWritten, assembler.objectsDeduplicated)
        flags.withLockedValue {
            $0.objectsWritten = written
            $0.objectsDeduplicated = deduplicated
        }
        return done
    }

    /// Runs `work` until it succeeds, every second while it fails, with the store marked blocked meanwhile.
    /// Returns false when it gave up because ingestd is stopping.
    @discardableResult
    private func retryWhileBlocked(_ message: Logger.Message, _ metadata: Logger.Metadata,
                                   _ work: () throws -> Void) -> Bool {
        var attempts = 0
        while true {
            do {
                try work()
                if attempts > 0 {
                    flags.withLockedValue {
                        $0.storeBlocked = nil
                        $0.storeDiskFull = false
                    }
                    logger.notice("the object store takes writes again; acknowledging",
                                  metadata: ["attempts": "\(attempts)"])
                }
                return true
            } catch {
                let stopping: Bool = flags.withLockedValue {
                    $0.storeBlocked = "\(error)"
                    $0.storeDiskFull = (error as? IngestError)?.code == .diskFull
                    if attempts == 0 { $0.errors += 1 }
                    return $0.stopping
                }
                if attempts % 60 == 0 { logger.error(message, metadata: metadata.merging(["error": "\(error)"]) { $1 }) }
                if stopping { return false }
                attempts += 1
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    /// Closes exchanges whose gateway is gone: not connected and silent for `grace`.
    func reapLostExchanges(grace: TimeInterval) {
        storeQueue.async {
            let connected = self.connectedGateways.withLockedValue { Set($0.keys) }
            let cutoff = Date().addingTimeInterval(-grace)
            guard Date().timeIntervalSince(self.startedAt) > grace else { return }
            var finished: [(CaptureRecord, UInt64)] = []
            for gateway in self.assembler.gatewaysWithOpenExchanges where !connected.contains(gateway) {
                finished += self.assembler.closeLost(gatewayID: gateway, idleSince: cutoff).map { ($0.record, $0.firstSegment) }
            }
            self.record(finished)
            self.collectSegments()
        }
    }

    /// Makes everything received durable and stored (SIGTERM).
    func drain() {
        flags.withLockedValue { $0.stopping = true }
        walQueue.sync {}
        let pending: Bool = batch.withLockedValue { !$0.entries.isEmpty }
        if pending { walQueue.sync { self.commit() } }
        storeQueue.sync {}
    }
}
