import Foundation

/// A small tmpfs mounted for one test, to make the disk full for real (ENOSPC) and free it again.
/// Mounting needs CAP_SYS_ADMIN (root in a container); tests that use it are enabled only where it works.
final class SmallFilesystem {
    let path: String
    private var fillers: [String] = []

    /// Whether this process may mount a tmpfs (checked once, by trying).
    static let isAvailable: Bool = {
        guard let probe = try? SmallFilesystem(bytes: 64 * 1024) else { return false }
        probe.unmount()
        return true
    }()

    init(bytes: Int) throws {
        path = FileManager.default.temporaryDirectory.path + "/fl-tmpfs-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard mount("tmpfs", path, "tmpfs", 0, "size=\(bytes),mode=0755") == 0 else {
            let code = errno
            rmdir(path)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EPERM)
        }
    }

    deinit { unmount() }

    /// Fills the file system in files of `pieceBytes` until it refuses more.
    func fill(pieceBytes: Int = 64 * 1024) {
        let block = [UInt8](repeating: 0xA5, count: pieceBytes)
        while true {
            let name = "\(path)/.filler-\(fillers.count)"
            let fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard fd >= 0 else { return }
            let written = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            fillers.append(name)
            if written < pieceBytes { return }
        }
    }

    /// Frees `count` filler pieces (all with nil).
    func free(pieces count: Int? = nil) {
        let n = min(count ?? fillers.count, fillers.count)
        for name in fillers.suffix(n) { unlink(name) }
        fillers.removeLast(n)
    }

    func unmount() {
        guard FileManager.default.fileExists(atPath: path) else { return }
        umount2(path, Int32(MNT_DETACH))
        rmdir(path)
    }
}
