import Foundation
import Shared
import Testing

@testable import sessiond

/// The record socket end to end over a real Unix socket, on a real SQLite file and a real PostgreSQL server:
/// acknowledgements are cumulative and follow the commit; replays change nothing; a record the database
/// refuses becomes a dead letter and is acknowledged; a database that is away holds acknowledgements back.
@Suite struct DeliveryServerTests {
    static func records(_ home: TestHome, count: Int, session: String? = nil) throws -> [CaptureRecord] {
        try (0..<count).map { i in
            try home.record(request: AnthropicExchange.request(prompt: "task \(i)", session: session),
                            response: AnthropicExchange.response(id: "msg_\(i)"),
                            startedAt: 1_790_000_000_000_000_000 + Int64(i) * 1_000_000_000)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anAckFollowsTheCommitAndCoversEveryRecordBeforeIt(kind: StoreKind) async throws {
        let home = try TestHome()
        let (inner, _) = try await kind.open()
        let gated = GatedStore(inner)
        let harness = try await DeliveryHarness.start(store: gated, home: home)
        let client = try await harness.connect()
        try await client.send(records: try Self.records(home, count: 3), firstSequence: 1)

        // The batch has reached the database and is parked inside its write: no ack may exist yet.
        var started = gated.writesStarted.makeAsyncIterator()
        #expect(await started.next() != nil)
        #expect(!client.hasPendingBytes, "an ack was sent before the commit returned")
        #expect(try await inner.count("turns") == 0)

        await gated.open()
        let acks = try await client.acks(through: 3)
        #expect(acks.last == 3)
        // Cumulative: whatever was acknowledged is committed, all of it.
        #expect(try await inner.count("turns") == 3)
        #expect(try await inner.count("tool_calls") == 3)
        #expect(try await inner.count("sessions") == 3)
        await harness.stop()
    }

    @Test(arguments: StoreKind.allCases)
    func aReplayedRecordChangesNothing(kind: StoreKind) async throws {
        let home = try TestHome()
        let (store, _) = try await kind.open()
        let harness = try await DeliveryHarness.start(store: store, home: home)
        let records = try Self.records(home, count: 2, session: "2f1e7c3a-0000-4000-8000-000000000001")
        let first = try await harness.connect()
        try await first.send(records: records, firstSequence: 1)
        #expect(try await first.acks(through: 2).last == 2)
        let before = try await Self.snapshot(store)

        // ingestd reconnects and resends everything after a crash: same records, new connection, new numbers.
        let second = try await harness.connect()
        try await second.send(records: records + records, firstSequence: 10)
        #expect(try await second.acks(through: 13).last == 13)
        #expect(try await Self.snapshot(store) == before)
        #expect(before.turns == 2 && before.toolCalls == 2 && before.sessions == 1)
        #expect(await harness.processor.counters["replays_skipped"] == 4)
        await harness.stop()
    }

    @Test(arguments: StoreKind.allCases)
    func aRecordTheDatabaseRefusesBecomesADeadLetterAndIsAcknowledged(kind: StoreKind) async throws {
        let home = try TestHome()
        let (store, _) = try await kind.open()
        let records = try Self.records(home, count: 5)
        try await kind.refuseTurns(withCaptureID: records[2].captureID.uuidString.lowercased(), in: store)
        let harness = try await DeliveryHarness.start(store: store, home: home)
        let client = try await harness.connect()
        try await client.send(records: records, firstSequence: 1)
        #expect(try await client.acks(through: 5).last == 5)
        #expect(try await store.count("turns") == 4)
        #expect(try await store.count("dead_letters") == 1)
        // The pipeline goes on after it.
        try await client.send(records: try Self.records(home, count: 1), firstSequence: 6)
        #expect(try await client.acks(through: 6).last == 6)
        #expect(try await store.count("turns") == 5)
        #expect(await harness.processor.counters["dead_letters"] == 1)
        await harness.stop()
    }

    @Test(arguments: ["not json at all", #"{"capture_id":"nope"}"#, ""])
    func aPayloadThatIsNotARecordBecomesADeadLetter(payload: String) async throws {
        let home = try TestHome()
        let (store, _) = try await StoreKind.sqlite.open()
        let harness = try await DeliveryHarness.start(store: store, home: home)
        let client = try await harness.connect()
        try await client.send(payload: payload, sequence: 1)
        try await client.send(records: try Self.records(home, count: 1), firstSequence: 2)
        #expect(try await client.acks(through: 2).last == 2)
        #expect(try await store.count("dead_letters") == 1)
        #expect(try await store.count("turns") == 1)
        await harness.stop()
    }

    @Test func whileTheDatabaseIsAwayNothingIsAcknowledgedAndTheStatusSaysSo() async throws {
        let home = try TestHome()
        let (inner, _) = try await StoreKind.sqlite.open()
        let flaky = GatedStore(inner, failFirst: 2)
        let harness = try await DeliveryHarness.start(store: flaky, home: home)
        let client = try await harness.connect()
        try await client.send(records: try Self.records(home, count: 2), firstSequence: 1)

        var attempts = flaky.writesStarted.makeAsyncIterator()
        _ = await attempts.next()
        _ = await attempts.next()  // the retry has begun, so the first failure has been recorded
        #expect(await harness.processor.databaseHealthy == false)
        #expect(await harness.processor.counters["db_errors"] ?? 0 >= 1)
        #expect(!client.hasPendingBytes)
        #expect(try await inner.count("turns") == 0)

        await flaky.open()
        #expect(try await client.acks(through: 2).last == 2)
        #expect(try await inner.count("turns") == 2)
        #expect(await harness.processor.databaseHealthy)
        await harness.stop()
    }

    @Test func ackedTurnsAreReadableBySomeoneElseAtOnce() async throws {
        // The contract check reads $home/flightlog.db with another SQLite connection as soon as the ack is out.
        let home = try TestHome()
        let url = "sqlite://" + home.state.databaseFile
        let store = try await StoreFactory.open(url: url, logger: .init(label: "test"))
        try await store.migrate()
        let harness = try await DeliveryHarness.start(store: store, home: home)
        let client = try await harness.connect()
        let record = try home.record(
            request: #"{"model":"claude-contract","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#,
            response: #"{"id":"msg_contract","type":"message","content":[{"type":"text","text":"contract"}],"model":"claude-contract","usage":{"input_tokens":3,"output_tokens":1}}"#)
        try await client.send(records: [record], firstSequence: 1)
        #expect(try await client.acks(through: 1).last == 1)
        let reader = try await StoreFactory.open(url: url, logger: .init(label: "reader"))
        #expect(try await reader.count("turns") == 1)
        try await reader.close()
        await harness.stop()
    }

    struct Snapshot: Equatable {
        var turns: Int
        var toolCalls: Int
        var sessions: Int
        var anomalies: Int
        var sessionTurnCount: Int
    }

    static func snapshot(_ store: any TurnStore) async throws -> Snapshot {
        Snapshot(turns: try await store.count("turns"), toolCalls: try await store.count("tool_calls"),
                 sessions: try await store.count("sessions"), anomalies: try await store.count("anomaly_events"),
                 sessionTurnCount: try await store.count("sessions WHERE turn_count = 2"))
    }
}
