import Foundation
import Shared

/// What is owed to sessiond, durably: `delivery/log` (one JSON line per finished exchange, in delivery
/// sequence) and `delivery/cursor` (the highest sequence sessiond acknowledged). After a restart
/// everything past the cursor is sent again; sessiond ignores what it already has.
final class DeliveryLog {
    struct Entry: Codable, Equatable {
        var seq: UInt64
        var captureID: UUID
        var path: String
        var firstSegment: UInt64

        enum CodingKeys: String, CodingKey {
            case seq
            case captureID = "capture_id"
            case path
            case firstSegment = "first_segment"
        }
    }

    private let directory: String
    private var fd: Int32 = -1
    /// `delivery/cursor`, open for overwriting in place.
    private var cursorFD: Int32 = -1
    private(set) var lastSequence: UInt64 = 0
    private(set) var cursor: UInt64 = 0
    /// Entries not yet acknowledged, in order.
    private(set) var pending: [Entry] = []
    /// Every capture id in the log: a WAL replay must not deliver them twice.
    private(set) var known: Set<UUID> = []
    /// Every entry in the log, acknowledged or not, in order.
    private var entries: [Entry] = []

    init(state: StateDirectory) throws {
        directory = state.root + "/delivery"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        cursor = UInt64((try? String(contentsOfFile: directory + "/cursor", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        let text = (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? ""
        var validBytes = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let entry = try? JSONDecoder().decode(Entry.self, from: Data(line.utf8)) else { break }
            validBytes += line.utf8.count + 1
            known.insert(entry.captureID)
            entries.append(entry)
            lastSequence = max(lastSequence, entry.seq)
            if entry.seq > cursor { pending.append(entry) }
        }
        lastSequence = max(lastSequence, cursor)
        fd = open(directory + "/log", O_WRONLY | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw IngestError(.walUnwritable, "cannot open \(directory)/log: errno \(errno)") }
        cursorFD = open(directory + "/cursor", O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard cursorFD >= 0 else { throw IngestError(.walUnwritable, "cannot open \(directory)/cursor: errno \(errno)") }
        // A torn last line (crash mid-append) is cut; its exchange is replayed from the WAL.
        ftruncate(fd, off_t(min(validBytes, text.utf8.count)))
        lseek(fd, 0, SEEK_END)
    }

    /// Records finished exchanges as owed; durable when this returns.
    /// All or nothing: when the disk refuses the lines, what was written of them is cut off again and the
    /// log is as before, so the same records can be added once there is room. (A torn line left in place
    /// would end the log at the next start, cutting every entry appended after it.)
    func add(_ finished: [(CaptureRecord, UInt64)]) throws -> [Entry] {
        var lines = ""
        var added: [Entry] = []
        var sequence = lastSequence
        var batch: Set<UUID> = []
        for (record, segment) in finished
        where !known.contains(record.captureID) && batch.insert(record.captureID).inserted {
            sequence += 1
            let entry = Entry(seq: sequence, captureID: record.captureID, path: record.metadataPath,
                              firstSegment: segment)
            lines += String(decoding: try JSONEncoder().encode(entry), as: UTF8.self) + "\n"
            added.append(entry)
        }
        guard !lines.isEmpty else { return [] }
        let bytes = Array(lines.utf8)
        let end = lseek(fd, 0, SEEK_END)
        var failure = bytes.withUnsafeBytes { writeFully(fd, $0).error }
        if failure == 0 && fdatasync(fd) != 0 { failure = errno }
        guard failure == 0 else {
            if end >= 0 {
                ftruncate(fd, end)
                lseek(fd, end, SEEK_SET)
            }
            throw IngestError(failure == ENOSPC ? .diskFull : .walUnwritable,
                              "cannot append to the delivery log: errno \(failure)")
        }
        lastSequence = sequence
        for entry in added {
            known.insert(entry.captureID)
            pending.append(entry)
            entries.append(entry)
        }
        return added
    }

    /// sessiond committed everything up to `seq`.
    ///
    /// Acknowledged entries stay in the log (and in ``known``) for as long as the WAL may still hold their
    /// exchange's frames: a restart replays the WAL and must know those exchanges are done. ``compact(from:)``
    /// drops them once their first segment is deleted.
    func acknowledge(_ seq: UInt64) {
        guard seq > cursor else { return }
        cursor = min(seq, lastSequence)
        pending.removeAll { $0.seq <= cursor }
        // Overwritten in place, at a fixed width (so no shorter value leaves digits behind), not replaced
        // by a new file per acknowledgement: on ext4 every deleted inode is one more that the next file
        // creation scans past for minutes, which made each object and metadata file ingestd creates dearer
        // the more acknowledgements came in. Not synced, as before: a cursor that is behind after a crash
        // only makes records go to sessiond again, which ignores what it has.
        let text = Self.cursorText(cursor)
        _ = text.withUnsafeBytes { pwrite(cursorFD, $0.baseAddress, $0.count, 0) }
    }

    /// A cursor as stored: 20 digits (any UInt64) and a newline, always 21 bytes.
    static func cursorText(_ value: UInt64) -> [UInt8] {
        let digits = String(value)
        return Array((String(repeating: "0", count: max(0, 20 - digits.count)) + digits + "\n").utf8)
    }

    /// Rewrites the log without the acknowledged entries whose first WAL segment is gone (below `oldest`,
    /// the oldest segment left): a replay can no longer see their exchange_begin. Atomic: a crash leaves
    /// the old log or the new one.
    func compact(from oldest: UInt64) {
        let kept = entries.filter { $0.seq > cursor || $0.firstSegment >= oldest }
        guard kept.count < entries.count else { return }
        var text = ""
        for entry in kept {
            guard let line = try? JSONEncoder().encode(entry) else { return }
            text += String(decoding: line, as: UTF8.self) + "\n"
        }
        let tmp = directory + "/log.tmp"
        let bytes = Array(text.utf8)
        let tfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard tfd >= 0 else { return }
        let written = bytes.withUnsafeBytes { write(tfd, $0.baseAddress, $0.count) }
        let synced = fsync(tfd) == 0
        Foundation.close(tfd)
        guard written == bytes.count, synced, rename(tmp, directory + "/log") == 0 else {
            unlink(tmp)
            return
        }
        fsyncDirectory(directory)
        Foundation.close(fd)
        fd = open(directory + "/log", O_WRONLY | O_APPEND | O_CLOEXEC)
        entries = kept
        known = Set(kept.map(\.captureID))
    }

    /// The lowest WAL segment an unacknowledged record still needs.
    var lowestSegmentInUse: UInt64? { pending.map(\.firstSegment).min() }

    func metadataPath(_ relative: String, state: StateDirectory) -> String { state.root + "/" + relative }

    func close() {
        if fd >= 0 { Foundation.close(fd) }
        if cursorFD >= 0 { Foundation.close(cursorFD) }
        fd = -1
        cursorFD = -1
    }
}
