import ArgumentParser
import Foundation
import Shared

/// `flightlog status [--json]`: what operatord and each daemon report.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the state of every component.")

    @OptionGroup var options: DaemonOptions
    @Flag(name: .long, help: "Print JSON for scripts.") var json = false

    func run() async throws {
        let configuration = try await options.loadConfiguration(component: "flightlog")
        let state = StateDirectory(root: configuration.home)
        let reply: ControlReply
        var reachable = true
        do {
            reply = try ControlClient(path: state.operatorSocket).send(ControlRequest(command: "status"))
        } catch {
            // operatord down: the daemons may still be capturing; show what their own reports say.
            reachable = false
            let components = FlightlogComponent.allCases.map { c in
                let status = ComponentStatus.read(from: state.statusFile(for: c.rawValue))
                let alive = status.map { kill($0.pid, 0) == 0 } ?? false
                return ComponentReport(name: c.rawValue, state: alive ? "running" : "stopped", pid: alive ? status?.pid : nil,
                                       restarts: 0, adopted: false, lastExit: nil, status: alive ? status : nil)
            }
            reply = ControlReply(ok: false, error: "\(error)", mode: nil, components: components)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            print(String(decoding: try encoder.encode(reply), as: UTF8.self))
        } else {
            print(Table.render(
                header: ["COMPONENT", "STATE", "PID", "RESTARTS", "HEALTH", "DETAIL"],
                rows: (reply.components ?? []).map {
                    [$0.name, $0.state, $0.pid.map(String.init) ?? "-", String($0.restarts), $0.status?.health ?? "-",
                     $0.status?.detail ?? $0.lastExit ?? ""]
                }))
            if !reachable { print("operatord: \(reply.error ?? "unreachable")") }
        }
        if !reachable { throw ExitCode(1) }
    }
}

/// `flightlog restart COMPONENT`
struct RestartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart one daemon; the others keep running.")

    @OptionGroup var options: DaemonOptions
    @Argument(help: "gateway, ingestd or sessiond") var component: String

    func run() async throws {
        guard FlightlogComponent(rawValue: component) != nil else {
            throw CLIError("unknown component '\(component)': gateway, ingestd or sessiond")
        }
        let configuration = try await options.loadConfiguration(component: "flightlog")
        let reply = try ControlClient(path: StateDirectory(root: configuration.home).operatorSocket)
            .send(ControlRequest(command: "restart", component: component))
        guard reply.ok else { throw CLIError(reply.error ?? "restart failed") }
        print(reply.message ?? "ok")
    }
}

/// Aligned plain-text tables for human output.
enum Table {
    static func render(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
