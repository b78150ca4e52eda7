import ArgumentParser
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Shared

/// `operatord`: supervises gateway, ingestd and sessiond, answers `run/operator.sock`, serves metrics.
@main
struct OperatordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operatord",
        abstract: "Flightlog's supervisor: starts, watches and restarts the capture daemons."
    )

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        DaemonSignals.holdReloadUntilReady()
        let configuration = try await options.loadConfiguration(component: "operatord")
        let logger = LoggingSetup.bootstrap(component: "operatord", level: configuration.log.level)
        do {
            try await Operator.run(configuration: configuration, options: options, logger: logger)
        } catch {
            logger.critical("operatord stopped", metadata: ["error": "\(error)"])
            FileHandle.standardError.write(Data("operatord: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
