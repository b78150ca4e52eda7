import ArgumentParser
import Foundation
import Shared

/// `flightlog up`: operatord in the foreground, standalone, on the embedded SQLite default.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up", abstract: "Run the recorder in the foreground (operatord with all daemons).")

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let configuration = try await options.loadConfiguration(component: "flightlog")
        let state = StateDirectory(root: configuration.home)
        let proxy = "http://\(configuration.gateway.listen)"
        print("""
            Flightlog is recording in \(configuration.home)
              proxy:    \(proxy)
              database: \(configuration.database.url)
            Point an agent at it:
              eval "$(flightlog env\(options.config.map { " --config \($0)" } ?? ""))"   # then run the agent, or:
              flightlog run -- claude -p "…"
            CA certificate: \(state.caCertificate)   (Ctrl-C stops everything)
            """)
        fflush(nil)
        // operatord takes over this process (same pid), so signals to `flightlog up` reach it.
        let operatord = Operatord.path()
        var arguments = ["operatord", "--set", "operator.mode=standalone"]
        if let config = options.config { arguments += ["--config", config] }
        if let home = options.home { arguments += ["--home", home] }
        for setting in options.settings { arguments += ["--set", setting] }
        let error = ProcessReplacement.exec(operatord, arguments: arguments, searchPath: false)
        throw CLIError("cannot start \(operatord): \(String(cString: strerror(error)))")
    }
}

enum Operatord {
    /// operatord lives beside this executable.
    static func path() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("operatord").path
    }
}

/// A one-line CLI error; ArgumentParser prints it and exits non-zero.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
