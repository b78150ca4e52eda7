import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import Shared
@testable import gateway

/// A stand-in ingestd on a real Unix socket: records what arrives, acks cumulatively.
final class FakeIngest: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = CaptureFrame
    typealias OutboundOut = ByteBuffer
    let frames = NIOLockedValueBox<[CaptureFrame]>([])
    let connections = NIOLockedValueBox<[any Channel]>([])
    let ack: Bool

    func channelActive(context: ChannelHandlerContext) {
        connections.withLockedValue { $0.append(context.channel) }
        context.fireChannelActive()
    }

    /// Drops every accepted connection (closing the listener alone leaves them open).
    func dropConnections() {
        for c in connections.withLockedValue({ $0 }) { c.close(promise: nil) }
    }

    init(ack: Bool) {
        self.ack = ack
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        frames.withLockedValue { $0.append(frame) }
        if ack && frame.sequence > 0 {
            var out = ByteBuffer()
            CaptureFrameCodec.encode(.ack(frame.sequence), into: &out)
            context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        }
    }

    static func start(path: String, ack: Bool, group: any EventLoopGroup) async throws -> (any Channel, FakeIngest) {
        let handler = FakeIngest(ack: ack)
        unlink(path)
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(CaptureFrameDecoder()), handler,
                    ])
                }
            }
            .bind(unixDomainSocketPath: path).get()
        return (channel, handler)
    }
}

@Suite struct CaptureSenderTests {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    private func path() -> String {
        FileManager.default.temporaryDirectory.path + "/fl-\(UUID().uuidString.prefix(8)).sock"
    }

    /// Polls until `condition` holds, giving up after a minute (a deadline for a broken build, not a timing
    /// requirement: a loaded CI machine gets all the time it needs).
    private func eventually(_ condition: () -> Bool) async {
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition(), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
    }

    @Test func framesAreSentInOrderAfterAHelloAndDroppedWhenAcknowledged() async throws {
        let socket = path()
        let (server, ingest) = try await FakeIngest.start(path: socket, ack: true, group: group)
        let sender = CaptureSender(socketPath: socket, gatewayID: "g-test", memoryLimit: 1 << 20,
                                   eventLoop: group.next(), logger: Logger(label: "test"))
        sender.start()
        await eventually { sender.statistics.connected }
        let id = UUID()
        for i in 0..<20 {
            sender.emit(.requestBody, exchangeID: id, timestamp: 0, payload: ByteBuffer(string: "chunk \(i)"))
        }
        await eventually { sender.statistics.framesAcknowledged == 20 }
        let frames = ingest.frames.withLockedValue { $0 }
        #expect(frames.first?.kind == .hello)
        #expect(frames.dropFirst().map(\.sequence) == Array(1...20))
        #expect(sender.statistics.bufferedBytes == 0)
        sender.stop()
        try await server.close()
    }

    @Test func unacknowledgedFramesAreResentAfterAReconnect() async throws {
        let socket = path()
        var (server, silent) = try await FakeIngest.start(path: socket, ack: false, group: group)
        let sender = CaptureSender(socketPath: socket, gatewayID: "g-test", memoryLimit: 1 << 20,
                                   eventLoop: group.next(), logger: Logger(label: "test"))
        sender.start()
        await eventually { sender.statistics.connected }
        for i in 0..<5 {
            sender.emit(.responseBody, exchangeID: UUID(), timestamp: 0, payload: ByteBuffer(string: "\(i)"))
        }
        await eventually { silent.frames.withLockedValue { $0.count } == 6 }
        // ingestd goes away without acknowledging; the frames stay buffered.
        try await server.close()
        silent.dropConnections()
        await eventually { !sender.statistics.connected }
        #expect(sender.statistics.framesAcknowledged == 0)
        #expect(sender.statistics.bufferedBytes > 0)
        let (newServer, acking) = try await FakeIngest.start(path: socket, ack: true, group: group)
        server = newServer
        await eventually { sender.statistics.framesAcknowledged == 5 }
        let resent = acking.frames.withLockedValue { $0 }
        #expect(resent.first?.kind == .hello)
        #expect(resent.dropFirst().map(\.sequence) == [1, 2, 3, 4, 5])
        _ = silent
        sender.stop()
        try await server.close()
    }

    @Test func overTheMemoryBoundNewExchangesAreNotAdmitted() async throws {
        let sender = CaptureSender(socketPath: path(), gatewayID: "g-test", memoryLimit: 200,
                                   eventLoop: group.next(), logger: Logger(label: "test"))
        #expect(sender.admitsNewExchanges)
        for _ in 0..<10 {
            sender.emit(.requestBody, exchangeID: UUID(), timestamp: 0, payload: ByteBuffer(repeating: 1, count: 50))
        }
        #expect(!sender.admitsNewExchanges)
        #expect(sender.statistics.framesDropped > 0)
        #expect(sender.statistics.bufferedBytes <= 200)
    }

    @Test func overflowGoesToTheDiskSpoolAndComesBackInOrder() async throws {
        let socket = path()
        let directory = FileManager.default.temporaryDirectory.path + "/fl-spool-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let spool = CaptureSpool(directory: directory, gatewayID: "g/test", limit: 1 << 20)
        let sender = CaptureSender(socketPath: socket, gatewayID: "g-test", memoryLimit: 400, spool: spool,
                                   eventLoop: group.next(), logger: Logger(label: "test"))
        sender.start()  // nobody listens yet: everything stays buffered
        for i in 0..<50 {
            sender.emit(.requestBody, exchangeID: UUID(), timestamp: 0, payload: ByteBuffer(string: "frame \(i) " + String(repeating: "x", count: 40)))
        }
        await eventually { FileManager.default.fileExists(atPath: spool.path) }
        #expect(sender.statistics.framesDropped == 0)
        #expect(sender.statistics.spooledBytes > 0)
        #expect(sender.admitsNewExchanges)
        let (server, ingest) = try await FakeIngest.start(path: socket, ack: true, group: group)
        await eventually { sender.statistics.framesAcknowledged == 50 }
        let sequences = ingest.frames.withLockedValue { $0 }.filter { $0.sequence > 0 }.map(\.sequence)
        #expect(sequences == Array(1...50))
        #expect(sender.statistics.spooledBytes == 0)
        sender.stop()
        try await server.close()
    }
}
