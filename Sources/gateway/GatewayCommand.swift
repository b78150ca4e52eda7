import ArgumentParser
import Foundation
import Logging
import NIOPosix
import ServiceLifecycle
import Shared

/// `gateway`: the TLS-intercepting forward proxy. Parses flags, loads the configuration, runs the services.
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "Flightlog's HTTPS forward proxy: records what agents send to LLM APIs."
    )

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        DaemonSignals.holdReloadUntilReady()
        let configuration = try await options.loadConfiguration(component: "gateway")
        let logger = LoggingSetup.bootstrap(component: "gateway", level: configuration.log.level)
        do {
            try await Gateway.run(configuration: configuration, options: options, logger: logger)
        } catch {
            logger.critical("gateway stopped", metadata: ["error": "\(error)"])
            FileHandle.standardError.write(Data("gateway: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
