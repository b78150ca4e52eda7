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

    /// Loads the configuration; a bad one is a one-line error naming the key, and exit status 2.
    public func loadConfiguration(component: String) async throws -> Configuration {
        do {
            return try await ConfigurationLoader.load(.init(configPath: config, home: home, settings: settings))
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("\(component): \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
