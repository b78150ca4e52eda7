import Foundation
import Logging
import Synchronization
import Testing

@testable import Shared

/// Issue 6: a reload applies what a daemon can change live, lists the rest as needing a restart, and a
/// configuration that does not load changes nothing.
@Suite struct ConfigurationReloadTests {
    /// Every setting of the schema can be compared, so a new key is never silently left out of a reload.
    @Test func everySchemaSettingIsCompared() {
        let settings = Set(ConfigurationSchema.keys.compactMap { key, shape -> String? in
            switch shape {
            case .section: nil
            case .scalar, .list: key
            }
        })
        #expect(Configuration.settingKeys == settings)
    }

    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var policy: ReloadPolicy
        var change: @Sendable (inout Configuration) -> Void
        var live: [String]
        var restart: [String]
        var description: String { "\(policy.component): \(name)" }
    }

    static let cases: [Case] = [
        Case(name: "nothing", policy: .gateway, change: { _ in }, live: [], restart: []),
        Case(name: "log level", policy: .gateway, change: { $0.log.level = "debug" }, live: ["log.level"], restart: []),
        Case(name: "on_failure", policy: .gateway, change: { $0.capture.onFailure = .pass },
             live: ["capture.on_failure"], restart: []),
        Case(name: "listen", policy: .gateway, change: { $0.gateway.listen.port = 9000 },
             live: [], restart: ["gateway.listen"]),
        Case(name: "sessions are not the gateway's", policy: .gateway,
             change: { $0.sessions.idleTimeout = .seconds(60) }, live: [], restart: []),
        Case(name: "idle timeout", policy: .sessiond, change: { $0.sessions.idleTimeout = .seconds(60) },
             live: ["sessions.idle_timeout"], restart: []),
        Case(name: "price file", policy: .sessiond, change: { $0.sessions.priceFile = "/etc/prices.json" },
             live: ["sessions.price_file"], restart: []),
        Case(name: "database", policy: .sessiond, change: { $0.database.url = "sqlite:///elsewhere.db" },
             live: [], restart: ["database.url"]),
        Case(name: "mixed", policy: .sessiond, change: {
            $0.log.level = "trace"
            $0.sessions.idleTimeout = .seconds(1)
            $0.database.url = "postgres://u@h:5432/d"
            $0.capture.onFailure = .pass
        }, live: ["log.level", "sessions.idle_timeout"], restart: ["database.url"]),
        Case(name: "max body", policy: .ingestd, change: { $0.capture.maxBodyBytes = 1 },
             live: [], restart: ["capture.max_body_bytes"]),
        Case(name: "compression and level", policy: .ingestd, change: {
            $0.ingest.compression = .gzip
            $0.log.level = "error"
        }, live: ["log.level"], restart: ["ingest.compression"]),
        Case(name: "metrics", policy: .operator, change: { $0.operator.metricsListen.port = 1 },
             live: [], restart: ["operator.metrics_listen"]),
        Case(name: "home", policy: .operator, change: { $0.home = "/elsewhere" }, live: [], restart: ["home"]),
    ]

    @Test(arguments: cases)
    func thePlanSortsChangedKeys(_ c: Case) {
        let running = Configuration(home: "/var/lib/flightlog")
        var candidate = running
        c.change(&candidate)
        let plan = ConfigurationReloadPlan(running: running, candidate: candidate, policy: c.policy)
        #expect(plan.liveKeys == c.live)
        #expect(plan.restartKeys == c.restart)
        for key in c.live { #expect(plan.appliesLive(key)) }
        for key in c.restart { #expect(!plan.appliesLive(key)) }
    }

    /// Only live keys are adopted: a key waiting for a restart is reported again on the next reload.
    @Test func theEffectiveConfigurationTakesOnlyLiveKeys() {
        let running = Configuration(home: "/h")
        var candidate = running
        candidate.capture.onFailure = .pass
        candidate.gateway.listen.port = 9000
        let plan = ConfigurationReloadPlan(running: running, candidate: candidate, policy: .gateway)
        let effective = plan.effective(running: running, candidate: candidate)
        #expect(effective.capture.onFailure == .pass)
        #expect(effective.gateway.listen.port == 8877)
        let again = ConfigurationReloadPlan(running: effective, candidate: candidate, policy: .gateway)
        #expect(again.liveKeys.isEmpty)
        #expect(again.restartKeys == ["gateway.listen"])
    }

    @Test func theSummaryNamesWhatHappened() {
        #expect(ReloadReport(component: "gateway", ok: true).summary == "gateway: no change")
        #expect(ReloadReport(component: "gateway", ok: true, applied: ["log.level"], needsRestart: ["gateway.listen"],
                             restartHint: "flightlog restart gateway").summary
                == "gateway: applied log.level; needs a restart: gateway.listen (flightlog restart gateway)")
        #expect(ReloadReport(component: "sessiond", ok: false, error: "configuration: unknown key 'x.y' (z)").summary
                == "sessiond: kept the running configuration: configuration: unknown key 'x.y' (z)")
    }

    // MARK: - the reloader, on a real file

    final class Applied: Sendable {
        let plans = Mutex<[ConfigurationReloadPlan]>([])
        let failNext = Mutex(false)
    }

    func reloader(file: String, home: String, applied: Applied) -> ConfigurationReloader {
        ConfigurationReloader(
            policy: .sessiond, running: Configuration(home: home), reportPath: home + "/sessiond.reload.json",
            logger: Logger(label: "test"),
            load: { try await ConfigurationLoader.load(.init(configPath: file, home: home), environment: [:]) },
            apply: { _, plan in
                if applied.failNext.withLock({ let f = $0; $0 = false; return f }) {
                    throw ConfigurationError(.invalidValue, key: "sessions.price_file", "not a price table")
                }
                applied.plans.withLock { $0.append(plan) }
            })
    }

    @Test func aBadFileKeepsTheRunningConfiguration() async throws {
        let home = try TemporaryDirectory.make("reload")
        defer { try? FileManager.default.removeItem(atPath: home) }
        let file = home + "/config.yaml"
        let applied = Applied()
        try "sessions:\n  idle_timeout: 5m\n".write(toFile: file, atomically: true, encoding: .utf8)
        let reloader = reloader(file: file, home: home, applied: applied)

        try "sessions:\n  idle_timeout: 10m\n  idle_timout: 1m\n".write(toFile: file, atomically: true, encoding: .utf8)
        let refused = await reloader.reload()
        #expect(!refused.ok)
        #expect(refused.error?.contains("sessions.idle_timout") == true)
        #expect(await reloader.running.sessions.idleTimeout == .seconds(300))
        #expect(applied.plans.withLock { $0.isEmpty })
        #expect(ReloadReport.read(from: home + "/sessiond.reload.json")?.ok == false)

        try "sessions:\n  idle_timeout: 10m\n".write(toFile: file, atomically: true, encoding: .utf8)
        applied.failNext.withLock { $0 = true }
        let declined = await reloader.reload()
        #expect(!declined.ok)
        #expect(declined.error?.contains("sessions.price_file") == true)
        #expect(await reloader.running.sessions.idleTimeout == .seconds(300))

        let good = await reloader.reload()
        #expect(good.ok)
        #expect(good.applied == ["sessions.idle_timeout"])
        #expect(await reloader.running.sessions.idleTimeout == .seconds(600))
        #expect(applied.plans.withLock { $0.map(\.liveKeys) } == [["sessions.idle_timeout"]])
        #expect(ReloadReport.read(from: home + "/sessiond.reload.json") == good)
    }

    @Test func aChangedLogLevelIsAppliedToTheProcess() async throws {
        let home = try TemporaryDirectory.make("reload-log")
        defer { try? FileManager.default.removeItem(atPath: home) }
        let file = home + "/config.yaml"
        try "log:\n  level: warning\n".write(toFile: file, atomically: true, encoding: .utf8)
        let report = await reloader(file: file, home: home, applied: Applied()).reload()
        #expect(report.applied == ["log.level"])
        #expect(LoggingSetup.currentLevel == .warning)
        LoggingSetup.setLevel("info")
    }
}

@Suite struct LiveLogLevelTests {
    /// Loggers made before a reload follow the new level; one that set its own level keeps it.
    @Test func handlersFollowTheSharedLevelUnlessTheySetTheirOwn() {
        let level = LiveLogLevel(.info)
        let shared = LiveLevelLogHandler(base: StreamLogHandler.standardError(label: "a"), level: level)
        var own = LiveLevelLogHandler(base: StreamLogHandler.standardError(label: "b"), level: level)
        own.logLevel = .error
        level.value = .debug
        #expect(shared.logLevel == .debug)
        #expect(own.logLevel == .error)
        level.value = .critical
        #expect(shared.logLevel == .critical)
    }
}
