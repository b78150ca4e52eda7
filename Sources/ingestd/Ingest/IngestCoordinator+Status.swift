import Foundation
import Shared

/// What ingestd reports about itself: the status file's counters and health, and the delivery cursor.
extension IngestCoordinator {
    /// The highest sequence sessiond acknowledged and the delivery log has recorded (read on the store
    /// queue, after any acknowledgement already handed to it).
    var deliveryCursor: UInt64 { storeQueue.sync { deliveryLog.cursor } }

    var counters: [String: Double] {
        let f = flags.withLockedValue { $0 }
        return [
            "wal_bytes": Double(f.walBytes), "frames_durable": Double(f.framesDurable), "exchanges": Double(f.exchanges),
            "duplicates_dropped": Double(f.duplicates), "errors": Double(f.errors),
            "disk_full": f.diskFull || f.storeDiskFull ? 1 : 0,
            "store_blocked": f.storeBlocked == nil ? 0 : 1,
            "gateways_connected": Double(connectedGateways.withLockedValue { $0.count }),
            "delivery_pending": Double(delivery.pendingCount), "delivery_acked_seq": Double(delivery.acknowledgedThrough),
            // The names the status contract uses (ComponentStatus, the issue).
            "frames": Double(f.framesDurable), "delivery_lag": Double(delivery.pendingCount),
            "acked_seq": Double(f.gatewayAcked), "objects_written": Double(f.objectsWritten),
            "objects_deduplicated": Double(f.objectsDeduplicated),
            "store_backlog_bytes": Double(storeBacklog.withLockedValue { $0 }),
        ]
    }

    var health: (String, String?) {
        let f = flags.withLockedValue { $0 }
        if f.diskFull { return ("failing", "disk full: not acknowledging") }
        if let blocked = f.storeBlocked { return ("failing", "cannot store objects (\(blocked)): not acknowledging") }
        if f.walBytes > walLimit { return ("failing", "WAL over ingest.wal_max_bytes: not acknowledging") }
        if !delivery.isConnected { return ("degraded", "sessiond not connected; records wait in the WAL") }
        return ("ok", nil)
    }
}
