import Foundation
import NIOCore
import NIOPosix
import Shared
import Synchronization

/// A gateway as ingestd sees it: connects to `run/ingest.sock`, says hello, sends frames, reads acks.
struct FakeGateway {
    let gatewayID: String
    let socketPath: String
    let group: any EventLoopGroup

    /// One connection: hello, `frames` (in writes of `perWrite` frames), then waits until ingestd has
    /// acknowledged `awaitAcknowledgementOf` and closes. Returns the highest ack seen.
    @discardableResult
    func session(
        sending frames: [CaptureFrame], perWrite: Int = 7, awaitAcknowledgementOf target: UInt64
    ) async throws -> UInt64 {
        let channel = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: socketPath) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(CaptureFrameDecoder(maximumFrameLength: 4096)))
                return try NIOAsyncChannel<CaptureFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        return try await channel.executeThenClose { inbound, outbound in
            var hello = ByteBuffer()
            CaptureFrameCodec.encode(
                try .json(
                    .hello, exchangeID: CaptureFrame.noExchange,
                    CaptureHello(gatewayID: gatewayID, host: "test")), into: &hello)
            try await outbound.write(hello)
            for start in stride(from: 0, to: frames.count, by: perWrite) {
                var out = ByteBuffer()
                for frame in frames[start..<min(start + perWrite, frames.count)] {
                    CaptureFrameCodec.encode(frame, into: &out)
                }
                try await outbound.write(out)
            }
            var highest: UInt64 = 0
            for try await frame in inbound {
                if let sequence = frame.acknowledgedSequence { highest = max(highest, sequence) }
                if highest >= target { break }
            }
            return highest
        }
    }
}

extension FakeGateway {
    /// As the real gateway does: connect, send everything not yet acknowledged, and when the connection
    /// drops reconnect (after a short pause) and send again, until `frames.last` is acknowledged.
    func sendUntilAcknowledged(_ frames: [CaptureFrame]) async {
        let target = frames.last?.sequence ?? 0
        var acknowledged: UInt64 = 0
        while acknowledged < target && !Task.isCancelled {
            let owed = frames.filter { $0.sequence > acknowledged }
            if let seen = try? await session(sending: owed, awaitAcknowledgementOf: target) {
                acknowledged = max(acknowledged, seen)
            }
            if acknowledged < target { try? await Task.sleep(for: .milliseconds(50)) }
        }
    }
}

/// sessiond as ingestd sees it: listens on `run/session.sock`, records every record frame, and
/// acknowledges each one after "committing" it.
final class FakeSessiond: Sendable {
    struct Received: Sendable {
        var sequence: UInt64
        var captureID: UUID
        var record: CaptureRecord
    }

    private final class Log: Sendable {
        let received = Mutex<[Received]>([])
        let hellos = Mutex<[CaptureHello]>([])
        let connections = Mutex(0)
    }

    /// How the first connection misbehaves: it acknowledges only the first `acknowledge` records, then
    /// closes once it has received `closeAfter` (as a sessiond that crashed before committing them).
    struct FirstConnection: Sendable {
        var acknowledge: Int
        var closeAfter: Int
    }

    private let log = Log()
    private let server: NIOAsyncChannel<NIOAsyncChannel<CaptureFrame, ByteBuffer>, Never>
    private let task: Task<Void, Never>

    var records: [Received] { log.received.withLock { $0 } }
    var greetings: [CaptureHello] { log.hellos.withLock { $0 } }

    init(socketPath: String, group: any EventLoopGroup, firstConnection: FirstConnection? = nil) async throws {
        try? UnixSocketPath.removeStale(socketPath)
        let server = try await ServerBootstrap(group: group).bind(unixDomainSocketPath: socketPath) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(CaptureFrameDecoder()))
                return try NIOAsyncChannel<CaptureFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        self.server = server
        let log = self.log
        task = Task {
            try? await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        let number = log.connections.withLock {
                            $0 += 1
                            return $0
                        }
                        let limits = number == 1 ? firstConnection : nil
                        group.addTask {
                            var seen = 0
                            try? await connection.executeThenClose { inbound, outbound in
                                for try await frame in inbound {
                                    if frame.kind == .hello, let hello = try? frame.decodeJSON(CaptureHello.self) {
                                        log.hellos.withLock { $0.append(hello) }
                                        continue
                                    }
                                    guard frame.kind == .record else { continue }
                                    let record = try frame.decodeJSON(CaptureRecord.self)
                                    log.received.withLock {
                                        $0.append(
                                            Received(
                                                sequence: frame.sequence, captureID: frame.exchangeID, record: record))
                                    }
                                    seen += 1
                                    if let limits {
                                        if seen >= limits.closeAfter { return }
                                        if seen > limits.acknowledge { continue }
                                    }
                                    var ack = ByteBuffer()
                                    CaptureFrameCodec.encode(.ack(frame.sequence), into: &ack)
                                    try await outbound.write(ack)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Waits until `condition` holds for what was received (or gives up after `limit`, so a broken build
    /// fails instead of hanging).
    func wait(limit: Duration = .seconds(60), until condition: @Sendable ([Received]) -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline {
            if condition(records) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return condition(records)
    }

    func stop() async {
        task.cancel()
        try? await server.channel.close()
    }
}
