import ArgumentParser

/// `flightlog`: the command line over operatord and the store.
@main
struct FlightlogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flightlog",
        abstract: "A flight recorder for AI coding agents.",
        subcommands: [
            UpCommand.self, EnvCommand.self, RunCommand.self, StatusCommand.self, RestartCommand.self,
            SessionsCommand.self, ShowCommand.self, VerifyCommand.self, ExportCommand.self, CACommand.self, ReloadCommand.self,
        ]
    )
}
