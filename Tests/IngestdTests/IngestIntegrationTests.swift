import Foundation
import NIOCore
import NIOPosix
import Shared
import Testing

@testable import ingestd

/// ingestd over real Unix sockets: a fake gateway sends interleaved exchanges (and resends them after a
/// reconnect, as a gateway does with what it has not seen acknowledged), a fake sessiond acknowledges the
/// records. Checks what a user relies on: every exchange is recorded once, with objects whose SHA-256 is
/// the SHA-256 of the bytes that crossed, and a metadata file.
@Suite struct IngestIntegrationTests {
    static let group = MultiThreadedEventLoopGroup.singleton

    /// Every record's bodies are in the store and hash to what was sent; its metadata file exists.
    static func expectStored(
        _ exchanges: [TestExchange], records: [FakeSessiond.Received], state: StateDirectory
    ) throws {
        let layout = ObjectStoreLayout(state: state)
        for exchange in exchanges {
            let record = try #require(records.first { $0.captureID == exchange.id }?.record)
            let request = try #require(record.requestBody)
            let response = try #require(record.responseBody)
            #expect(request.sha256 == TestExchange.sha256(exchange.request))
            #expect(response.sha256 == TestExchange.sha256(exchange.response))
            #expect(try layout.read(request) == exchange.request)
            #expect(try layout.read(response) == exchange.response)
            #expect(FileManager.default.fileExists(atPath: "\(state.root)/\(record.metadataPath)"))
        }
    }

    @Test func resentFramesAreRecordedOnceWithObjectsThatHashToTheBytesSent() async throws {
        let state = try temporaryStateDirectory("int")
        let sessiond = try await FakeSessiond(socketPath: state.sessionSocket, group: Self.group)
        let ingestd = try await IngestdUnderTest.start(state: state)
        let gateway = FakeGateway(gatewayID: "gw/\(UUID())", socketPath: state.ingestSocket, group: Self.group)

        let first = (0..<6).map { i in
            TestExchange.random(requestBytes: 1_000 + i * 37_000, responseBytes: 200 + i * 51_000)
        }
        let firstFrames = try TestExchange.interleave(first, gatewayID: gateway.gatewayID)
        let lastFirst = firstFrames.last?.sequence ?? 0
        try await gateway.session(sending: firstFrames, awaitAcknowledgementOf: lastFirst)

        // A reconnect: the gateway sends again what it has (it may not have seen the last acks), then more.
        let second = [TestExchange.random(requestBytes: 70_000, responseBytes: 130_000)]
        let secondFrames = try TestExchange.interleave(
            second, gatewayID: gateway.gatewayID, firstSequence: lastFirst + 1)
        let all = firstFrames + secondFrames
        let acknowledged = try await gateway.session(sending: all, awaitAcknowledgementOf: all.last?.sequence ?? 0)
        #expect(acknowledged == all.last?.sequence)

        let exchanges = first + second
        let ids = Set(exchanges.map(\.id))
        #expect(await sessiond.wait { Set($0.map(\.captureID)).isSuperset(of: ids) })
        let counters = ingestd.coordinator.counters
        await ingestd.stop()
        await sessiond.stop()

        let records = sessiond.records
        for id in ids { #expect(records.filter { $0.captureID == id }.count == 1, "capture \(id) delivered once") }
        #expect(records.map(\.sequence) == records.map(\.sequence).sorted())
        #expect(sessiond.greetings.first?.gatewayID.hasPrefix("ingestd/") == true)
        try Self.expectStored(exchanges, records: records, state: state)
        // The status file's counters (every body is distinct, so every body is a new object).
        #expect(counters["frames"] == Double(all.count))
        #expect(counters["acked_seq"] == Double(all.last?.sequence ?? 0))
        #expect(counters["objects_written"] == Double(2 * exchanges.count))
        #expect(counters["exchanges"] == Double(exchanges.count))
        #expect(counters["duplicates_dropped"] == Double(firstFrames.count))
    }
}

/// Delivery to sessiond: cumulative acks, and after a reconnect everything not acknowledged is sent again
/// under the same sequence numbers, and nothing that was acknowledged.
@Suite struct DeliveryResendTests {
    @Test func afterSessiondDropsTheConnectionEverythingNotAcknowledgedIsSentAgain() async throws {
        let state = try temporaryStateDirectory("resend")
        let group = IngestIntegrationTests.group
        let sessiond = try await FakeSessiond(
            socketPath: state.sessionSocket, group: group,
            firstConnection: .init(acknowledge: 3, closeAfter: 6))
        let ingestd = try await IngestdUnderTest.start(state: state)
        let gateway = FakeGateway(gatewayID: "gw/\(UUID())", socketPath: state.ingestSocket, group: group)
        // One exchange at a time, so the delivery order is the exchanges' order.
        let exchanges = (0..<8).map { _ in TestExchange.random(requestBytes: 3_000, responseBytes: 5_000) }
        var sequence: UInt64 = 1
        for exchange in exchanges {
            let frames = try TestExchange.interleave([exchange], gatewayID: gateway.gatewayID, firstSequence: sequence)
            sequence = (frames.last?.sequence ?? sequence) + 1
            try await gateway.session(sending: frames, awaitAcknowledgementOf: frames.last?.sequence ?? 0)
        }
        #expect(
            await sessiond.wait { records in exchanges.allSatisfy { e in records.contains { $0.captureID == e.id } } })
        await ingestd.stop()
        await sessiond.stop()

        let records = sessiond.records
        let bySequence = Dictionary(grouping: records, by: \.sequence)
        for (sequence, copies) in bySequence {
            #expect(Set(copies.map(\.captureID)).count == 1, "sequence \(sequence) always names the same capture")
            let expected = sequence <= 3 ? 1 : (sequence <= 6 ? 2 : 1)
            #expect(copies.count == expected, "sequence \(sequence) sent \(copies.count) times")
        }
        #expect(Set(records.map(\.captureID)) == Set(exchanges.map(\.id)))
    }
}
