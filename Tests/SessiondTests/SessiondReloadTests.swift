import Foundation
import Logging
import Shared
import Testing

@testable import sessiond

/// Issue 6 at sessiond's level: SIGHUP's reload with sessiond's own apply step. A file that does not load, or a
/// price file that is not a price table, leaves sessiond on what it runs; a good one changes the idle timeout
/// under the running processor.
@Suite struct SessiondReloadTests {
    @Test func aBadConfigurationKeepsWhatSessiondRuns() async throws {
        let home = try TestHome()
        defer { home.remove() }
        let (store, _) = try await StoreKind.sqlite.open()
        let processor = try RestartDeterminismTests.processor(store, home)
        let file = home.state.root + "/config.yaml"
        let logger = Logger(label: "test")
        var started = Configuration(home: home.state.root)
        started.sessions.idleTimeout = .seconds(300)
        let reloader = ConfigurationReloader(
            policy: .sessiond, running: started, reportPath: home.state.reloadFile(for: "sessiond"), logger: logger,
            load: {
                try await ConfigurationLoader.load(.init(configPath: file, home: home.state.root), environment: [:])
            },
            apply: { try await Sessiond.applyLive($0, $1, to: processor, logger: logger) })

        try "sessions:\n  idle_timeout: 1m\n  idle: 2m\n".write(toFile: file, atomically: true, encoding: .utf8)
        let unknownKey = await reloader.reload()
        #expect(!unknownKey.ok)
        #expect(unknownKey.error?.contains("'sessions.idle'") == true)
        #expect(await processor.idleTimeoutNanoseconds == 300_000_000_000)

        let prices = home.state.root + "/prices.json"
        try "not json".write(toFile: prices, atomically: true, encoding: .utf8)
        try "sessions:\n  idle_timeout: 1m\n  price_file: \(prices)\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let badPrices = await reloader.reload()
        #expect(!badPrices.ok)
        #expect(badPrices.error?.contains("sessions.price_file") == true)
        #expect(await processor.idleTimeoutNanoseconds == 300_000_000_000)
        #expect(await reloader.running.sessions.priceFile == nil)

        try #"[{"model":"claude-test","effective_from":"2020-01-01","input":1,"output":2}]"#
            .write(toFile: prices, atomically: true, encoding: .utf8)
        let good = await reloader.reload()
        #expect(good.ok)
        #expect(good.applied == ["sessions.idle_timeout", "sessions.price_file"])
        #expect(await processor.idleTimeoutNanoseconds == 60_000_000_000)
        #expect(ReloadReport.read(from: home.state.reloadFile(for: "sessiond")) == good)

        try "sessions:\n  idle_timeout: 1m\n  price_file: \(prices)\ndatabase:\n  url: sqlite:///elsewhere.db\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let restart = await reloader.reload()
        #expect(restart.ok && restart.applied.isEmpty && restart.needsRestart == ["database.url"])
        #expect(restart.restartHint == "flightlog restart sessiond")
        await processor.shutdown()
        try await store.close()
    }
}
