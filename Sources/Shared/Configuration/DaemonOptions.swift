import ArgumentParser
import Foundation

/// The flags every daemon and the CLI share for finding and overriding the configuration.
public struct DaemonOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: "The configuration file (else FLIGHTLOG_CONFIG, else $FLIGHTLOG_HOME/config.yaml).")
    public var config: String?

    @Option(name: .long, help: "The state directory (else FLIGHTLOG_HOME, else ~/.local/share/flightlog).")
    public var home: String?

    @Option(name: .customLong("set"), help: "Override one setting: --set gateway.listen=127.0.0.1:9000 (repeatable).")
    public var settings: [String] = []

    public init() {}

    /// What these flags say about the configuration, for ``ConfigurationLoader``.
    public var overrides: ConfigurationLoader.Overrides {
        .init(configPath: config, home: home, settings: settings)
    }

    /// Loads the configuration; a bad one is a one-line error naming the key, and exit status 2.
    public func loadConfiguration(component: String) async throws -> Configuration {
        do {
            return try await ConfigurationLoader.load(overrides)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("\(component): \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// Loads the configuration again, exactly as at start (same flags, same environment), for a reload:
    /// a bad one is thrown as a ``ConfigurationError``, nothing is printed.
    public func reloadConfiguration() async throws -> Configuration {
        try await ConfigurationLoader.load(overrides)
    }
}
