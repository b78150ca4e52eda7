import ArgumentParser
import Foundation
import Logging
import Shared

/// `sessiond`: parses records, detects sessions, writes the database.
@main
struct SessiondCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessiond",
        abstract: "Flightlog's session daemon: turns capture records into sessions, turns and tool calls."
    )

    @OptionGroup var options: DaemonOptions

    @Flag(name: .long, help: "Apply the database migrations and exit (as the tables' owner; see deploy/create-postgres-role.sh).")
    var migrateOnly = false

    /// Measures the write path on `database.url` with this many synthetic turns, against a raw COPY.
    @Option(name: .long, help: .hidden)
    var benchmark: Int?

    @Option(name: .long, help: .hidden)
    var benchmarkBatch = 500

    func run() async throws {
        DaemonSignals.holdReloadUntilReady()
        let configuration = try await options.loadConfiguration(component: "sessiond")
        let logger = LoggingSetup.bootstrap(component: "sessiond", level: configuration.log.level)
        do {
            if migrateOnly {
                try await Sessiond.migrate(configuration: configuration, logger: logger)
            } else if let turns = benchmark {
                try await StoreBenchmark(turns: turns, batch: benchmarkBatch, logger: logger).run(configuration: configuration)
            } else {
                try await Sessiond.run(configuration: configuration, options: options, logger: logger)
            }
        } catch {
            logger.critical("sessiond stopped", metadata: ["error": "\(error)"])
            FileHandle.standardError.write(Data("sessiond: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
