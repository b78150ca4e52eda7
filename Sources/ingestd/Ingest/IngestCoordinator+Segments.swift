import Foundation
import Shared

/// sessiond's acknowledgements, and the WAL segments nothing needs any more.
extension IngestCoordinator {
    /// sessiond committed every record up to `seq` (called by the delivery sender).
    func deliveryAcknowledged(_ seq: UInt64) {
        storeQueue.async {
            self.deliveryLog.acknowledge(seq)
            self.collectSegments()
        }
    }

    /// Deletes WAL segments below everything still needed (open exchanges, unacknowledged records).
    ///
    /// The watermark is fixed here, on the store queue: frames written later go to this segment or a newer
    /// one, and frames written earlier but not yet applied are counted in `unstored`. (Reading the current
    /// segment later, on the WAL queue, could delete a segment written and rolled past in between whose
    /// frames the assembler had just started using.)
    func collectSegments() {
        let active = activeSegment.withLockedValue { $0 }
        let inFlight = unstored.withLockedValue { $0.keys.min() }
        let needed = [assembler.lowestSegmentInUse, deliveryLog.lowestSegmentInUse, inFlight, active]
            .compactMap { $0 }.min()
        walQueue.async {
            let watermark = min(needed ?? self.wal.currentSegment, self.wal.currentSegment)
            for segment in self.wal.segments where segment < watermark { self.wal.delete(segment) }
            self.flags.withLockedValue { $0.walBytes = self.wal.totalBytes }
            let oldest = self.wal.segments.min() ?? self.wal.currentSegment
            self.storeQueue.async { self.deliveryLog.compact(from: oldest) }
        }
    }
}
