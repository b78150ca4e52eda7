import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files of finished exchanges (objects, capture metadata) waiting to be made durable together.
///
/// Making one small file durable on its own costs a journal commit for its data and another for its
/// directory entry, and an exchange has up to three such files: at a few hundred exchanges per second that
/// was most of ingestd's CPU. A batch instead writes every staged file to its temporary name, then syncs
/// them all (the first `fsync` commits the journal for all of them), renames them all into place, and
/// `fsync`s each directory it touched once. The guarantees are those of a single file:
///
/// - a file is complete or absent: its bytes are synced before the rename makes the name appear;
/// - nothing refers to a file before it is durable: the caller records exchanges for delivery only after
///   ``commit()`` returned, and until then the WAL holds their frames (a crash replays them);
/// - an object that exists is not rewritten (checked when staging and again just before the rename).
///
/// ``commit()`` is retry-safe: after a failure (disk full) it carries on where it stopped. Files whose bytes
/// are still in memory are written again from scratch if their sync failed, since after a failed `fsync`
/// the kernel may have dropped the dirty pages.
final class StoreBatch {
    /// One file waiting to become durable.
    struct Staged {
        enum Policy {
            /// Content-addressed: if the name exists already, the file there is identical and kept.
            case keepExisting
            /// Replaces whatever is there (a metadata file rewritten on replay has the same content).
            case replace
        }

        var directory: String
        var name: String
        var policy: Policy
        /// Where the temporary file goes: a directory the recovery sweep reads
        /// (``ExchangeAssembler/removeTemporaries()``), on the same file system as `directory`.
        var temporaryDirectory: String
        /// The content while it is in memory (small files); nil once it lives only in `temporary`.
        var bytes: [UInt8]?
        /// An open temporary file holding the content, or -1.
        var fd: Int32 = -1
        var temporary: String?
        var synced = false

        var path: String { "\(directory)/\(name)" }
    }

    private var staged: [Staged] = []
    /// Directories that received a rename not yet made durable.
    private var dirtyDirectories: Set<String> = []
    private var knownDirectories: Set<String> = []
    /// Bytes held in memory by staged files.
    private(set) var stagedBytes = 0
    /// Objects written, and objects found already stored (deduplicated), since start.
    private(set) var objectsWritten: UInt64 = 0
    private(set) var objectsDeduplicated: UInt64 = 0

    var isEmpty: Bool { staged.isEmpty && dirtyDirectories.isEmpty }
    var count: Int { staged.count }
    /// Staged files that hold an open descriptor (large bodies, written out already): bounded by the caller,
    /// so a batch of large bodies cannot run the process out of descriptors.
    var openFiles: Int { staged.reduce(0) { $0 + ($1.fd >= 0 ? 1 : 0) } }

    deinit {
        for file in staged where file.fd >= 0 {
            close(file.fd)
            if let temporary = file.temporary { unlink(temporary) }
        }
    }

    /// Stages `file`; it becomes durable at the next ``commit()``.
    func stage(_ file: Staged) {
        stagedBytes += file.bytes?.count ?? 0
        staged.append(file)
    }

    /// An object found stored already when it was finished (nothing staged).
    func countDeduplicated() { objectsDeduplicated += 1 }

    /// Makes every staged file durable under its final name. Throws, leaving what is left staged, when the
    /// disk refuses; calling again continues.
    func commit() throws {
        guard !isEmpty else { return }
        try writeOut()
        while let file = staged.first {
            try place(file)
            stagedBytes -= file.bytes?.count ?? 0
            staged.removeFirst()
        }
        for directory in dirtyDirectories.sorted() {
            let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dfd >= 0 else { throw IngestError(.objectUnwritable, "cannot open \(directory): errno \(errno)") }
            let synced = fsync(dfd) == 0
            let code = errno
            close(dfd)
            guard synced else { throw IngestError(.objectUnwritable, "cannot fsync \(directory): errno \(code)") }
            dirtyDirectories.remove(directory)
        }
    }

    /// The first half of ``commit()``: every staged file written to its temporary file and synced, none
    /// renamed yet.
    func writeOut() throws {
        for i in staged.indices where staged[i].fd < 0 {
            try materialize(&staged[i])
        }
        for i in staged.indices where !staged[i].synced {
            guard fsync(staged[i].fd) == 0 else {
                let code = errno
                if staged[i].bytes != nil { discardTemporary(&staged[i]) }
                throw IngestError(code == ENOSPC ? .diskFull : .objectUnwritable,
                                  "cannot fsync \(staged[i].temporary ?? staged[i].path): errno \(code)")
            }
            staged[i].synced = true
        }
    }

    /// Writes an in-memory file to a fresh temporary file beside its final name.
    private func materialize(_ file: inout Staged) throws {
        guard let bytes = file.bytes else {
            throw IngestError(.objectUnwritable, "\(file.path) has neither bytes nor a temporary file")
        }
        try ensureDirectory(file.temporaryDirectory)
        let temporary = "\(file.temporaryDirectory)/.tmp-\(UUID().uuidString)"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw IngestError(errno == ENOSPC ? .diskFull : .objectUnwritable, "cannot create \(temporary): errno \(errno)")
        }
        file.fd = fd
        file.temporary = temporary
        file.synced = false
        let failure = bytes.withUnsafeBytes { writeFully(fd, $0).error }
        guard failure == 0 else {
            discardTemporary(&file)
            throw IngestError(failure == ENOSPC ? .diskFull : .objectUnwritable, "cannot write \(temporary): errno \(failure)")
        }
    }

    /// Renames a synced temporary file into place (or drops it when an identical object is there already).
    private func place(_ file: Staged) throws {
        guard let temporary = file.temporary else { return }
        let path = file.path
        if case .keepExisting = file.policy, access(path, F_OK) == 0 {
            unlink(temporary)
            close(file.fd)
            objectsDeduplicated += 1
            return
        }
        try ensureDirectory(file.directory)
        guard rename(temporary, path) == 0 else {
            let code = errno
            throw IngestError(code == ENOSPC ? .diskFull : .objectUnwritable, "cannot rename into \(path): errno \(code)")
        }
        close(file.fd)
        dirtyDirectories.insert(file.directory)
        if case .keepExisting = file.policy { objectsWritten += 1 }
    }

    private func discardTemporary(_ file: inout Staged) {
        if file.fd >= 0 { close(file.fd) }
        if let temporary = file.temporary { unlink(temporary) }
        file.fd = -1
        file.temporary = nil
        file.synced = false
    }

    /// Creates `directory` (and its parents) once per process; a new directory's own entry is made durable
    /// with its parent at commit.
    func ensureDirectory(_ directory: String) throws {
        guard !knownDirectories.contains(directory) else { return }
        var missing: [String] = []
        var next = directory
        while !next.isEmpty, next != "/", access(next, F_OK) != 0 {
            missing.append(next)
            next = (next as NSString).deletingLastPathComponent
        }
        if !missing.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for created in missing { dirtyDirectories.insert((created as NSString).deletingLastPathComponent) }
        }
        knownDirectories.insert(directory)
    }
}
