import Foundation
import Testing

@testable import Shared

@Suite struct ConfigurationTests {
    let home: String

    init() throws {
        home = try TemporaryDirectory.make("config")
    }

    private func write(_ yaml: String) throws -> String {
        let path = home + "/config.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaultsWithoutAFile() async throws {
        let c = try await ConfigurationLoader.load(.init(home: home), environment: [:])
        #expect(c.home == home)
        #expect(c.gateway.listen == SocketAddressSpec(host: "127.0.0.1", port: 8877))
        #expect(c.capture.onFailure == .block)
        #expect(c.capture.redactBodies)
        #expect(c.sessions.idleTimeout == .seconds(300))
        #expect(c.database.url == "sqlite://\(home)/flightlog.db")
        #expect(c.sourcePath == nil)
    }

    @Test func readsTheFixedKeysFromTheFile() async throws {
        let path = try write("""
            home: "\(home)"
            gateway:
              listen: "127.0.0.1:9000"
              upstream_override: ["api.anthropic.com=127.0.0.1:9443", "api.openai.com=[::1]:9444"]
              upstream_ca: "/tmp/extra.pem"
            capture:
              on_failure: pass
            sessions:
              idle_timeout: 90s
            database:
              url: "postgres://flightlog@127.0.0.1:5432/flightlog"
            """)
        let c = try await ConfigurationLoader.load(.init(configPath: path), environment: [:])
        #expect(c.gateway.listen.port == 9000)
        #expect(c.gateway.upstreamOverride["api.anthropic.com"] == SocketAddressSpec(host: "127.0.0.1", port: 9443))
        #expect(c.gateway.upstreamOverride["api.openai.com"] == SocketAddressSpec(host: "::1", port: 9444))
        #expect(c.gateway.upstreamCA == "/tmp/extra.pem")
        #expect(c.capture.onFailure == .pass)
        #expect(c.sessions.idleTimeout == .seconds(90))
        #expect(c.database.url.hasPrefix("postgres://"))
        #expect(c.sourcePath == path)
    }

    @Test func environmentOverridesTheFileAndFlagsOverrideTheEnvironment() async throws {
        let path = try write("gateway:\n  listen: \"127.0.0.1:9000\"\n")
        let env = ["FLIGHTLOG_GATEWAY_LISTEN": "127.0.0.1:9001", "FLIGHTLOG_CAPTURE_ON_FAILURE": "pass"]
        let fromEnv = try await ConfigurationLoader.load(.init(configPath: path), environment: env)
        #expect(fromEnv.gateway.listen.port == 9001)
        #expect(fromEnv.capture.onFailure == .pass)
        let fromFlag = try await ConfigurationLoader.load(
            .init(configPath: path, settings: ["gateway.listen=127.0.0.1:9002"]), environment: env)
        #expect(fromFlag.gateway.listen.port == 9002)
    }

    @Test func theFileIsFoundThroughFlightlogConfigAndHome() async throws {
        _ = try write("gateway:\n  listen: \"127.0.0.1:9100\"\n")
        let viaHome = try await ConfigurationLoader.load(.init(), environment: ["FLIGHTLOG_HOME": home])
        #expect(viaHome.gateway.listen.port == 9100)
        #expect(viaHome.home == home)
        let viaConfig = try await ConfigurationLoader.load(.init(), environment: ["FLIGHTLOG_CONFIG": home + "/config.yaml"])
        #expect(viaConfig.gateway.listen.port == 9100)
    }

    @Test(arguments: [
        ("gateway:\n  bogus_key: 1\n", "gateway.bogus_key"),
        ("bogus: 1\n", "bogus"),
        ("capture:\n  on_failure: maybe\n", "capture.on_failure"),
        ("gateway:\n  listen: \"nonsense\"\n", "gateway.listen"),
        ("gateway:\n  upstream_override: [\"no-equals\"]\n", "gateway.upstream_override"),
        ("sessions:\n  idle_timeout: soon\n", "sessions.idle_timeout"),
        ("database:\n  url: \"mysql://x\"\n", "database.url"),
        ("capture:\n  redact_bodies: perhaps\n", "capture.redact_bodies"),
        ("gateway: 5\n", "gateway"),
    ])
    func aBadFileIsAnErrorNamingTheKey(yaml: String, key: String) async throws {
        let path = try write(yaml)
        let error = await #expect(throws: ConfigurationError.self) {
            try await ConfigurationLoader.load(.init(configPath: path), environment: [:])
        }
        #expect(error?.key == key)
        #expect(error?.description.contains(key) == true)
        #expect(error?.description.contains("\n") == false)
    }

    @Test func anUnknownSetKeyIsRefused() async throws {
        let error = await #expect(throws: ConfigurationError.self) {
            try await ConfigurationLoader.load(.init(home: home, settings: ["gateway.nope=1"]), environment: [:])
        }
        #expect(error?.code == .unknownKey)
    }

    @Test func aMissingExplicitFileIsAnError() async throws {
        await #expect(throws: ConfigurationError.self) {
            try await ConfigurationLoader.load(.init(configPath: home + "/absent.yaml"), environment: [:])
        }
    }

    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("30s", .seconds(30)), ("5m", .seconds(300)), ("1h", .seconds(3600)),
        ("12", .seconds(12)), ("1.5s", .milliseconds(1500)),
    ])
    func durations(text: String, expected: Duration) {
        #expect(DurationParser.parse(text) == expected)
    }

    @Test(arguments: ["", "m", "-1s", "5x", "abc"])
    func badDurations(text: String) {
        #expect(DurationParser.parse(text) == nil)
    }

    @Test(arguments: [("65536", 65536), ("64KiB", 65536), ("1MiB", 1 << 20), ("2GB", 2 << 30), ("3M", 3 << 20)])
    func sizes(text: String, expected: Int) {
        #expect(SizeParser.parse(text) == expected)
    }

    @Test(arguments: ["127.0.0.1:8877", "[::1]:8877", "localhost:1"])
    func addressesRoundTrip(text: String) throws {
        let spec = try #require(SocketAddressSpec(parsing: text))
        #expect(spec.description == text)
    }

    @Test(arguments: ["127.0.0.1", ":80", "host:99999", "[::1]8080", "host:x"])
    func badAddresses(text: String) {
        #expect(SocketAddressSpec(parsing: text) == nil)
    }
}

/// A fresh directory per test, so suites run in parallel.
enum TemporaryDirectory {
    static func make(_ label: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/flightlog-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
