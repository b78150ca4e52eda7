import Foundation
import Logging

@testable import sessiond

/// The two backends every storage and delivery test runs against: a real SQLite file and a real PostgreSQL
/// server. Tests reach the database only through the store (and psql for what bypasses it).
enum StoreKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case sqlite, postgres
    var description: String { rawValue }

    /// A migrated store on a database of its own, and the URL it was opened with.
    func open() async throws -> (store: any TurnStore, url: String) {
        let url: String
        switch self {
        case .sqlite:
            url = "sqlite://" + TestDirectory.make("store") + "/flightlog.db"
        case .postgres:
            url = try await ThrowawayPostgres.shared.database()
        }
        let store = try await StoreFactory.open(url: url, logger: Logger(label: "test"))
        try await store.migrate()
        return (store, url)
    }

    /// Installs a trigger that refuses the turn of one capture id, as a database would refuse a record it can
    /// never take.
    func refuseTurns(withCaptureID captureID: String, in store: any TurnStore) async throws {
        switch self {
        case .sqlite:
            try await store.execute("""
                CREATE TRIGGER test_poison BEFORE INSERT ON turns WHEN NEW.capture_id = '\(captureID)'
                BEGIN SELECT RAISE(ABORT, 'refused for the test'); END
                """)
        case .postgres:
            try await store.execute("""
                CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.capture_id = '\(captureID)' THEN RAISE EXCEPTION 'refused for the test'; END IF;
                RETURN NEW; END $$
                """)
            try await store.execute(
                "CREATE TRIGGER test_poison BEFORE INSERT ON turns FOR EACH ROW EXECUTE FUNCTION test_poison()")
        }
    }
}

/// An error a store double throws for a database that is away (not about the rows).
struct DatabaseAwayError: Error {}

/// A store whose writes wait at a gate the test opens, and say when they start: proves that nothing is
/// acknowledged before the commit returns.
actor GatedStore: TurnStore {
    let inner: any TurnStore
    private var isOpen = false
    private var parked: [CheckedContinuation<Void, Never>] = []
    nonisolated let writesStarted: AsyncStream<Int>
    private let started: AsyncStream<Int>.Continuation
    /// Writes that fail (as a database that is away) before the gate lets them through.
    private var failuresLeft: Int

    init(_ inner: any TurnStore, failFirst failures: Int = 0, open: Bool = false) {
        self.inner = inner
        self.failuresLeft = failures
        self.isOpen = open
        (writesStarted, started) = AsyncStream.makeStream()
    }

    func open() {
        isOpen = true
        for p in parked { p.resume() }
        parked = []
    }

    func migrate() async throws { try await inner.migrate() }
    func existing(_ captureIDs: [String]) async throws -> Set<String> { try await inner.existing(captureIDs) }

    func write(_ turns: [TurnWrite], deadLetters: [DeadLetter]) async throws {
        started.yield(turns.count)
        if failuresLeft > 0 {
            failuresLeft -= 1
            throw DatabaseAwayError()
        }
        if !isOpen { await withCheckedContinuation { parked.append($0) } }
        try await inner.write(turns, deadLetters: deadLetters)
    }

    func loadTracker(into tracker: inout SessionTracker, since: String) async throws {
        try await inner.loadTracker(into: &tracker, since: since)
    }

    func close() async throws { try await inner.close() }
    nonisolated func isPermanent(_ error: any Error) -> Bool { inner.isPermanent(error) }
    func execute(_ sql: String) async throws { try await inner.execute(sql) }
    func count(_ table: String) async throws -> Int { try await inner.count(table) }
    func texts(_ sql: String) async throws -> [String?] { try await inner.texts(sql) }
}
