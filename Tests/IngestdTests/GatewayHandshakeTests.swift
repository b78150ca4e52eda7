import Foundation
import NIOCore
import NIOPosix
import Shared
import Testing

@testable import ingestd

/// What a local client can send before and in its hello must never take ingestd down.
@Suite struct GatewayHandshakeTests {
    @Test(arguments: [70_000, 300_000])
    func anOversizedGatewayIDIsRefusedAndIngestdCarriesOn(idBytes: Int) async throws {
        let state = try temporaryStateDirectory("hello")
        let group = IngestIntegrationTests.group
        let sessiond = try await FakeSessiond(socketPath: state.sessionSocket, group: group)
        let ingestd = try await IngestdUnderTest.start(state: state)

        let hostile = FakeGateway(
            gatewayID: String(repeating: "g", count: idBytes), socketPath: state.ingestSocket,
            group: group)
        let exchange = TestExchange.random(requestBytes: 1_000, responseBytes: 1_000)
        let frames = try TestExchange.interleave([exchange], gatewayID: hostile.gatewayID)
        let acknowledged = try? await hostile.session(
            sending: frames, awaitAcknowledgementOf: frames.last?.sequence ?? 0)
        #expect((acknowledged ?? 0) == 0, "nothing from a refused hello is acknowledged")

        let honest = FakeGateway(gatewayID: "gw/\(UUID())", socketPath: state.ingestSocket, group: group)
        let fine = TestExchange.random(requestBytes: 2_000, responseBytes: 3_000)
        let fineFrames = try TestExchange.interleave([fine], gatewayID: honest.gatewayID)
        try await honest.session(sending: fineFrames, awaitAcknowledgementOf: fineFrames.last?.sequence ?? 0)
        #expect(await sessiond.wait { $0.contains { $0.captureID == fine.id } })
        await ingestd.stop()
        await sessiond.stop()
        #expect(!sessiond.records.contains { $0.captureID == exchange.id })
    }

    @Test func framesBeforeTheHelloCloseTheConnection() async throws {
        let state = try temporaryStateDirectory("nohello")
        let group = IngestIntegrationTests.group
        let ingestd = try await IngestdUnderTest.start(state: state)
        let channel = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: state.ingestSocket) {
            channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(CaptureFrameDecoder(maximumFrameLength: 4096)))
                return try NIOAsyncChannel<CaptureFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let answers = try await channel.executeThenClose { inbound, outbound in
            let frames = try TestExchange.interleave(
                [TestExchange.random(requestBytes: 10, responseBytes: 10)], gatewayID: "x")
            var out = ByteBuffer()
            for frame in frames { CaptureFrameCodec.encode(frame, into: &out) }
            try await outbound.write(out)
            var answers = 0
            for try await _ in inbound { answers += 1 }  // ends when ingestd closes the connection
            return answers
        }
        await ingestd.stop()
        #expect(answers == 0)
    }
}
