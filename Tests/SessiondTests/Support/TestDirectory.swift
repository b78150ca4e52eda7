import Foundation
import Synchronization

/// One scratch directory per test process, removed when the process exits: every test's state directory and
/// SQLite file goes under it, so nothing is left in /tmp whether a test passes, fails or throws.
enum TestDirectory {
    private static let root = Mutex<String?>(nil)

    /// A new, empty directory path (not created) under the process's scratch directory.
    static func make(_ prefix: String) -> String {
        let base = root.withLock { root -> String in
            if let root { return root }
            let path = NSTemporaryDirectory() + "flightlog-sessiond-tests-\(getpid())"
            root = path
            atexit { _ = ChildProcess.runBlocking("/bin/rm", ["-rf", TestDirectory.root.withLock { $0 } ?? "/nonexistent"]) }
            return path
        }
        return base + "/\(prefix)-\(UUID().uuidString.prefix(13).lowercased())"
    }
}
