import Foundation
import NIOCore
import Shared

/// ingestd's side of `run/session.sock`, as a plain blocking socket: sends hello and record frames, reads
/// acks, and can tell without waiting whether an ack has arrived. Blocking calls run on threads of their
/// own, never on the cooperative pool the daemon's code needs.
final class RecordSocketClient: @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() where i < raw.count - 1 { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "connect \(path): errno \(errno)")
        }
        // A guard against a hung test, not a measurement: a correct daemon answers in milliseconds.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
    }

    func hello() async throws {
        try await send([try CaptureFrame.json(.hello, exchangeID: CaptureFrame.noExchange,
                                              CaptureHello(gatewayID: "ingestd/test", host: "test"))])
    }

    /// Sends `records` as record frames numbered from `firstSequence`, in one write.
    func send(records: [CaptureRecord], firstSequence: UInt64) async throws {
        let encoder = JSONEncoder()
        var frames: [CaptureFrame] = []
        for (i, record) in records.enumerated() {
            frames.append(CaptureFrame(kind: .record, sequence: firstSequence + UInt64(i), exchangeID: record.captureID,
                                       timestamp: CaptureFrame.now(), payload: ByteBuffer(data: try encoder.encode(record))))
        }
        try await send(frames)
    }

    /// Sends one record frame whose payload is `payload` as it is (to send what is not a record).
    func send(payload: String, sequence: UInt64) async throws {
        try await send([CaptureFrame(kind: .record, sequence: sequence, exchangeID: UUID(), timestamp: CaptureFrame.now(),
                                     payload: ByteBuffer(string: payload))])
    }

    func send(_ frames: [CaptureFrame]) async throws {
        var buffer = ByteBuffer()
        for frame in frames { CaptureFrameCodec.encode(frame, into: &buffer) }
        let bytes = Array(buffer.readableBytesView)
        let fd = self.fd
        let ok: Bool = await Self.onThread {
            var sent = 0
            while sent < bytes.count {
                let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                sent += n
            }
            return true
        }
        guard ok else { throw Failure(description: "write: errno \(errno)") }
    }

    /// Waits for the next frame and returns the sequence it acknowledges.
    func nextAck() async throws -> UInt64 {
        let fd = self.fd
        let bytes: [UInt8]? = await Self.onThread {
            guard let header = Self.read(fd, count: 4) else { return nil }
            let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
            guard let rest = Self.read(fd, count: length) else { return nil }
            return header + rest
        }
        guard let bytes else { throw Failure(description: "no ack: the connection closed or the daemon did not answer") }
        var buffer = ByteBuffer(bytes: bytes)
        guard let frame = try CaptureFrameCodec.decode(from: &buffer), let seq = frame.acknowledgedSequence else {
            throw Failure(description: "expected an ack frame")
        }
        return seq
    }

    /// Waits for acks until one covers `sequence`; returns every ack seen.
    func acks(through sequence: UInt64) async throws -> [UInt64] {
        var seen: [UInt64] = []
        while seen.last.map({ $0 < sequence }) ?? true { seen.append(try await nextAck()) }
        return seen
    }

    /// Whether any byte from the daemon has arrived, without waiting. On a Unix stream socket what the peer
    /// wrote is in our receive buffer as soon as its write returns.
    var hasPendingBytes: Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) > 0
    }

    private static func read(_ fd: Int32, count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            got += n
        }
        return out
    }

    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }
}
