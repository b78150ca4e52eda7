import Foundation

/// A blocking client for `run/operator.sock`, for the CLI: one request line, one reply line.
public struct ControlClient: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public func send(_ request: ControlRequest, timeout: Double = 30) throws -> ControlReply {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlClientError(path: path, detail: "socket: errno \(errno)") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw ControlClientError(path: path, detail: "socket path too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let reason: String
            switch errno {
            case ENOENT, ECONNREFUSED: reason = "operatord is not running"
            case EACCES, EPERM: reason = "permission denied (root, the flightlog user and the flightlog group may connect)"
            default: reason = String(cString: strerror(errno))
            }
            throw ControlClientError(path: path, detail: "cannot connect: \(reason)")
        }
        var line = try JSONEncoder().encode(request)
        line.append(0x0a)
        let sent = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard sent == line.count else { throw ControlClientError(path: path, detail: "write failed: errno \(errno)") }
        var reply = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !reply.contains(0x0a) {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                throw ControlClientError(path: path, detail: n == 0 ? "operatord closed the connection" : "read failed: errno \(errno)")
            }
            reply.append(contentsOf: chunk[0..<n])
        }
        let lineEnd = reply.firstIndex(of: 0x0a) ?? reply.endIndex
        do {
            return try JSONDecoder().decode(ControlReply.self, from: reply[..<lineEnd])
        } catch {
            throw ControlClientError(path: path, detail: "unreadable reply: \(error)")
        }
    }
}

public struct ControlClientError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var detail: String
    public var description: String { "\(path): \(detail)" }
}
