import Foundation

/// Helpers for the Unix sockets under `$home/run/`.
public enum UnixSocketPath {
    /// Removes a stale socket file left by a previous process so `bind` can succeed.
    /// Refuses to remove anything that is not a socket.
    public static func removeStale(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw StateDirectoryError(path: path, detail: "exists and is not a socket; refusing to remove it")
        }
        unlink(path)
    }

    /// Sets a listening socket's mode (0660: owner and group may connect).
    public static func restrict(_ path: String, mode: mode_t = 0o660) throws {
        guard chmod(path, mode) == 0 else {
            throw StateDirectoryError(path: path, detail: "cannot set mode: errno \(errno)")
        }
    }
}
