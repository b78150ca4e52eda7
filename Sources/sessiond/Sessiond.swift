import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Shared

/// Assembles sessiond: the store (migrated), the tracker (restored), the record socket, the status report.
enum Sessiond {
    static func run(configuration: Configuration, options: DaemonOptions, logger: Logger) async throws {
        let state = StateDirectory(root: configuration.home)
        try state.prepareCommon()
        let prices = try PriceTable.load(overrides: configuration.sessions.priceFile)
        let store = try await StoreFactory.open(url: configuration.database.url, logger: logger)
        try await store.migrate()
        var tracker = SessionTracker(idleTimeoutNanoseconds: nanoseconds(configuration.sessions.idleTimeout))
        try await store.loadTracker(into: &tracker, since: Timestamp.string(
            nanoseconds: Int64((Date().timeIntervalSince1970 - 7 * 86400) * 1_000_000_000)))
        let processor = RecordProcessor(store: store, tracker: tracker, prices: prices, state: state, logger: logger)
        let reload = await ConfigurationReloadService.make(reloader: ConfigurationReloader(
            policy: .sessiond, running: configuration, reportPath: state.reloadFile(for: "sessiond"), logger: logger,
            load: { try await options.reloadConfiguration() },
            apply: { try await applyLive($0, $1, to: processor, logger: logger) }))
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let snapshot = StatusSnapshot(processor: processor)
        let reporter = StatusReporter(component: "sessiond", state: state, logger: logger,
                                      histograms: { ["db_write_seconds": snapshot.writeLatency] }) { snapshot.current }
        let server = RecordServer(path: state.sessionSocket, processor: processor, group: group, logger: logger) {
            reporter.ready()
        }
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [
                .init(service: snapshot), .init(service: server), .init(service: reporter), .init(service: reload),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await serviceGroup.run()
        // Let the batch being written finish (it is acknowledged or, unacknowledged, resent after a restart),
        // and only then close the store under it.
        await processor.shutdown()
        try? await store.close()
        try? await group.shutdownGracefully()
    }
}

extension Sessiond {
    /// `sessiond --migrate-only`: brings the schema to this version and exits.
    static func migrate(configuration: Configuration, logger: Logger) async throws {
        let store = try await StoreFactory.open(url: configuration.database.url, logger: logger)
        try await store.migrate()
        try await store.close()
        logger.info("database migrated", metadata: ["versions": "\(Schema.migrations(.sqlite).count)"])
    }
}

/// Copies the processor's counters out of the actor once a second, for the synchronous status reporter.
final class StatusSnapshot: Service, @unchecked Sendable {
    private let processor: RecordProcessor
    private let lock = NSLock()
    private var value: (String, String?, [String: Double]) = ("ok", nil, [:])
    private var latency = LatencyHistogram()

    /// A commit in flight longer than this is reported as a database that does not answer.
    static let unansweredAfterMilliseconds = 5_000.0

    init(processor: RecordProcessor) {
        self.processor = processor
    }

    var writeLatency: LatencyHistogram {
        lock.withLock { latency }
    }

    var current: (health: String, detail: String?, counters: [String: Double]) {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var counters = await processor.counters
            let healthy = await processor.databaseHealthy
            // How long the oldest record handed to the database has waited for its commit (0 when none waits).
            let lag = await processor.commitStartedAt.map { RecordProcessor.milliseconds(ContinuousClock.now - $0) } ?? 0
            counters["db_lag_ms"] = lag
            let stuck = lag > Self.unansweredAfterMilliseconds
            let health = healthy && !stuck ? "ok" : "failing"
            let detail: String? = !healthy ? "database unavailable: records wait unacknowledged and are retried"
                : stuck ? "the database has not answered a commit for \(Int(lag / 1000)) s: records wait unacknowledged"
                : nil
            let histogram = await processor.writeLatency
            lock.withLock {
                value = (health, detail, counters)
                latency = histogram
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }
}

/// Picks the backend from `database.url`.
enum StoreFactory {
    static func open(url: String, logger: Logger) async throws -> any TurnStore {
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard path.hasPrefix("/") else {
                throw SessiondError(.configuration, "database.url: '\(url)' needs an absolute path (sqlite:///path/flightlog.db)")
            }
            return try await SQLiteTurnStore.open(path: path, logger: logger)
        }
        return try await PostgresTurnStore.open(url: url, logger: logger)
    }
}
