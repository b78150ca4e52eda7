import Foundation
import NIOCore
import Shared

/// The disk overflow of the capture buffer: `spool/<gateway id>.spool`, encoded frames appended in
/// sequence order, read back in the same order when memory has room again.
///
/// All file I/O happens on the spool's own serial queue, never on an event loop; appends and reads are
/// ordered by that queue, so a read never overtakes an append queued before it.
final class CaptureSpool: @unchecked Sendable {
    let path: String
    let limit: Int
    private let queue = DispatchQueue(label: "flightlog.gateway.spool")
    private var fd: Int32 = -1
    /// Touched only on `queue`.
    private var readOffset: Int64 = 0
    private var writeOffset: Int64 = 0
    private var failed = false

    init(directory: String, gatewayID: String, limit: Int) {
        let safe = gatewayID.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        self.path = "\(directory)/\(String(safe)).spool"
        self.limit = limit
    }

    /// Appends frames (already encoded) at the end; `completion(false)` if the disk refused them.
    func append(_ frames: [ByteBuffer], completion: @escaping @Sendable (Bool) -> Void) {
        queue.async {
            guard self.open() else { return completion(false) }
            for frame in frames {
                let ok = frame.withUnsafeReadableBytes { raw -> Bool in
                    pwrite(self.fd, raw.baseAddress, raw.count, off_t(self.writeOffset)) == raw.count
                }
                guard ok else {
                    self.failed = true
                    return completion(false)
                }
                self.writeOffset += Int64(frame.readableBytes)
            }
            completion(true)
        }
    }

    /// Reads up to `maxBytes` of whole frames from the front; an empty result means the spool is drained
    /// (the file is then truncated so it does not grow across bursts).
    func readFront(maxBytes: Int, completion: @escaping @Sendable ([ByteBuffer]) -> Void) {
        queue.async {
            guard self.fd >= 0, self.readOffset < self.writeOffset else { return completion([]) }
            let wanted = Int(min(Int64(maxBytes), self.writeOffset - self.readOffset))
            var bytes = [UInt8](repeating: 0, count: max(wanted, 4))
            let n = bytes.withUnsafeMutableBytes { pread(self.fd, $0.baseAddress, wanted, off_t(self.readOffset)) }
            guard n > 0 else { return completion([]) }
            var buffer = ByteBuffer(bytes: bytes[0..<n])
            var frames: [ByteBuffer] = []
            // Whole frames only: a frame cut by `maxBytes` is read next time.
            while let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
                  buffer.readableBytes >= 4 + Int(length),
                  let frame = buffer.readSlice(length: 4 + Int(length)) {
                frames.append(frame)
                self.readOffset += Int64(frame.readableBytes)
            }
            if frames.isEmpty, let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) {
                // One frame larger than maxBytes: read exactly it.
                var big = [UInt8](repeating: 0, count: 4 + Int(length))
                let m = big.withUnsafeMutableBytes { pread(self.fd, $0.baseAddress, $0.count, off_t(self.readOffset)) }
                if m == big.count {
                    frames.append(ByteBuffer(bytes: big))
                    self.readOffset += Int64(m)
                }
            }
            if self.readOffset == self.writeOffset {
                ftruncate(self.fd, 0)
                self.readOffset = 0
                self.writeOffset = 0
            }
            completion(frames)
        }
    }

    func close() {
        queue.sync {
            if fd >= 0 {
                Foundation.close(fd)
                unlink(path)
                fd = -1
            }
        }
    }

    private func open() -> Bool {
        if fd >= 0 { return true }
        guard !failed else { return false }
        fd = Foundation.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 { failed = true }
        return fd >= 0
    }
}
