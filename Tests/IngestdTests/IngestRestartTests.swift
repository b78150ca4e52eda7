import Foundation
import NIOCore
import NIOPosix
import Shared
import Testing

@testable import ingestd

/// ingestd stopped and started again on the same state directory: what it owes is delivered, what was
/// acknowledged is not delivered again, and an exchange whose gateway never came back is closed as
/// `gateway_lost` with what arrived.
@Suite struct IngestRestartTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    /// Segment sizes: the default, and small enough that the WAL spans many segments (recovery reads one at
    /// a time, and deletes what nothing needs).
    static let segmentSizes = [64 << 20, 64 << 10]

    @Test(arguments: segmentSizes)
    func aRestartAfterEverythingWasAcknowledgedDeliversNothingAgain(segmentBytes: Int) async throws {
        let state = try temporaryStateDirectory("restart")
        let sessiond = try await FakeSessiond(socketPath: state.sessionSocket, group: Self.group)
        let gateway = FakeGateway(gatewayID: "gw/\(UUID())", socketPath: state.ingestSocket, group: Self.group)
        let exchanges = (0..<4).map { _ in TestExchange.random(requestBytes: 20_000, responseBytes: 30_000) }
        let frames = try TestExchange.interleave(exchanges, gatewayID: gateway.gatewayID)

        let first = try await IngestdUnderTest.start(state: state, segmentBytes: segmentBytes)
        try await gateway.session(sending: frames, awaitAcknowledgementOf: frames.last?.sequence ?? 0)
        #expect(await sessiond.wait { $0.count >= exchanges.count })
        // Let ingestd hear and record sessiond's last ack before it stops: an ack still on the wire when
        // ingestd stops is lost, and the record is rightly delivered again (at least once).
        let lastDelivered = sessiond.records.map(\.sequence).max() ?? 0
        #expect(await first.waitForDeliveryCursor(atLeast: lastDelivered))
        await first.stop()
        let delivered = sessiond.records.count
        #expect(delivered == exchanges.count)

        let second = try await IngestdUnderTest.start(state: state, segmentBytes: segmentBytes)
        // A new exchange after the restart is the causal marker: once it arrives, anything owed from before
        // the restart has been sent too (delivery is in order).
        let marker = TestExchange.random(requestBytes: 100, responseBytes: 100)
        let markerGateway = FakeGateway(
            gatewayID: "gw/marker-\(UUID())", socketPath: state.ingestSocket, group: Self.group)
        let again = try TestExchange.interleave([marker], gatewayID: markerGateway.gatewayID)
        try await markerGateway.session(sending: again, awaitAcknowledgementOf: again.last?.sequence ?? 0)
        #expect(await sessiond.wait { $0.contains { $0.captureID == marker.id } })
        await second.stop()
        await sessiond.stop()

        let redelivered = sessiond.records.filter { record in exchanges.contains { $0.id == record.captureID } }.count
        #expect(
            redelivered == exchanges.count, "records delivered again after a restart: \(redelivered - exchanges.count)")
    }

    @Test(arguments: segmentSizes)
    func anExchangeWhoseGatewayNeverCameBackIsRecordedAsGatewayLostWithWhatArrived(segmentBytes: Int) async throws {
        let state = try temporaryStateDirectory("lost")
        let sessiond = try await FakeSessiond(socketPath: state.sessionSocket, group: Self.group)
        let gateway = FakeGateway(gatewayID: "gw/\(UUID())", socketPath: state.ingestSocket, group: Self.group)
        var unfinished = TestExchange.random(requestBytes: 50_000, responseBytes: 40_000)
        unfinished.ends = false
        let open = unfinished
        let frames = try TestExchange.interleave([open], gatewayID: gateway.gatewayID)

        let first = try await IngestdUnderTest.start(state: state, segmentBytes: segmentBytes)
        try await gateway.session(sending: frames, awaitAcknowledgementOf: frames.last?.sequence ?? 0)
        await first.stop()

        // Restarted, and the gateway is gone for good: once the grace period is over the exchange is closed.
        let second = try await IngestdUnderTest.start(state: state, segmentBytes: segmentBytes)
        second.coordinator.reapLostExchanges(grace: 0)
        #expect(await sessiond.wait { $0.contains { $0.captureID == open.id } })
        await second.stop()
        await sessiond.stop()

        let record = try #require(sessiond.records.first { $0.captureID == open.id }?.record)
        #expect(record.end.outcome == .gatewayLost)
        #expect(record.requestBody?.sha256 == TestExchange.sha256(open.request))
        #expect(record.responseBody?.sha256 == TestExchange.sha256(open.response))
        #expect(record.response?.status == 200)
        #expect(record.end.requestBytes == Int64(open.request.count), "a gateway_lost record says how much arrived")
        #expect(record.end.responseBytes == Int64(open.response.count))
    }
}
