import Foundation
import NIOConcurrencyHelpers
import NIOCore
import Shared

/// Best-effort attribution of a local client connection to a process: the socket's uid from
/// `/proc/net/tcp{,6}`, then the pid owning that socket inode, its executable and working directory.
///
/// Runs once per connection, off the event loop; an exchange uses whatever is known when it begins.
enum ClientProcessLookup {
    struct Result: Sendable, Equatable {
        var pid: Int32?
        var uid: UInt32
        var executable: String?
        var workingDirectory: String?
    }

    static func lookup(client: SocketAddress, server: SocketAddress) -> Result? {
        guard let clientPort = client.port, let serverPort = server.port else { return nil }
        let v6 = client.protocol == .inet6
        let table = (try? String(contentsOfFile: v6 ? "/proc/net/tcp6" : "/proc/net/tcp", encoding: .utf8)) ?? ""
        // Columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
        for line in table.split(separator: "\n").dropFirst() {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 10, port(of: f[1]) == clientPort, port(of: f[2]) == serverPort,
                  let uid = UInt32(f[7]), let inode = UInt64(f[9]), inode != 0
            else { continue }
            var result = Result(pid: nil, uid: uid)
            if let pid = owner(ofSocketInode: inode) {
                result.pid = pid
                result.executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
                result.workingDirectory = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
            }
            return result
        }
        return nil
    }

    /// `0100007F:1F90` → 8080.
    private static func port(of field: Substring) -> Int? {
        guard let colon = field.lastIndex(of: ":") else { return nil }
        return Int(field[field.index(after: colon)...], radix: 16)
    }

    private static func owner(ofSocketInode inode: UInt64) -> Int32? {
        let target = "socket:[\(inode)]"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = Int32(entry), pid != getpid() else { continue }
            let fdDirectory = "/proc/\(pid)/fd"
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: fdDirectory) else { continue }
            for fd in fds where (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(fd)")) == target {
                return pid
            }
        }
        return nil
    }
}

/// The attribution of one connection, filled in by the lookup when it finishes.
final class ClientAttributionBox: Sendable {
    private let value: NIOLockedValueBox<ClientAttribution>

    init(_ initial: ClientAttribution) {
        value = NIOLockedValueBox(initial)
    }

    var current: ClientAttribution { value.withLockedValue { $0 } }

    func fill(_ result: ClientProcessLookup.Result) {
        value.withLockedValue {
            $0.pid = result.pid
            $0.uid = result.uid
            $0.executable = result.executable
            $0.workingDirectory = result.workingDirectory
        }
    }
}
