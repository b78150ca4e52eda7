import ArgumentParser
import Foundation
import Shared

/// `flightlog ca init|export`
struct CACommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca", abstract: "Manage the recorder's certificate authority.",
        subcommands: [Init.self, Export.self])

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the CA (once) and print where it is.")
        @OptionGroup var options: DaemonOptions

        func run() async throws {
            let configuration = try await options.loadConfiguration(component: "flightlog")
            let state = StateDirectory(root: configuration.home)
            let existed = FileManager.default.fileExists(atPath: state.caCertificate)
            do {
                _ = try CertificateAuthority.loadOrCreate(in: state)
            } catch {
                throw CLIError("\(error)")
            }
            print(existed ? "CA already exists: \(state.caCertificate)" : "created CA: \(state.caCertificate)")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the CA certificate (PEM).")
        @OptionGroup var options: DaemonOptions

        func run() async throws {
            let configuration = try await options.loadConfiguration(component: "flightlog")
            do {
                let ca = try CertificateAuthority.load(from: StateDirectory(root: configuration.home))
                print(ca.certificatePEM, terminator: ca.certificatePEM.hasSuffix("\n") ? "" : "\n")
            } catch {
                throw CLIError("\(error) (run `flightlog ca init` or start the gateway first)")
            }
        }
    }
}
