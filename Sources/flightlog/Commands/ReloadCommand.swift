import ArgumentParser
import Foundation
import Shared

/// `flightlog reload [--json]`: operatord re-reads the configuration and every daemon applies what it can live.
struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Re-read the configuration: apply what can change live, list what needs a restart.")

    @OptionGroup var options: DaemonOptions
    @Flag(name: .long, help: "Print operatord's JSON reply.") var json = false

    func run() async throws {
        // Not loadConfiguration: a bad file is exactly what operatord should check and name; the CLI only needs
        // to find the socket.
        let home = ConfigurationLoader.stateHome(options.overrides)
        let reply = try ControlClient(path: StateDirectory(root: home).operatorSocket)
            .send(ControlRequest(command: "reload"))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(reply), as: UTF8.self))
        } else if let reports = reply.reload {
            for report in reports { print(report.summary) }
        } else {
            print(reply.message ?? reply.error ?? (reply.ok ? "ok" : "failed"))
        }
        guard reply.ok else {
            if !json { FileHandle.standardError.write(Data("flightlog: reload: \(reply.error ?? "failed")\n".utf8)) }
            throw ExitCode(1)
        }
    }
}
