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

    func run() async throws {
        let configuration = try await options.loadConfiguration(component: "sessiond")
        let logger = LoggingSetup.bootstrap(component: "sessiond", level: configuration.log.level)
        do {
            try await Sessiond.run(configuration: configuration, logger: logger)
        } catch {
            logger.critical("sessiond stopped", metadata: ["error": "\(error)"])
            FileHandle.standardError.write(Data("sessiond: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
