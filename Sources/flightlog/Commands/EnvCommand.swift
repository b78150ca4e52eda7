import ArgumentParser
import Foundation
import Shared

/// `flightlog env`: the variables an agent needs, as `export` lines.
struct EnvCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env", abstract: "Print the export lines that point an agent at the recorder.")

    @OptionGroup var options: DaemonOptions

    func run() async throws {
        let configuration = try await options.loadConfiguration(component: "flightlog")
        for (name, value) in try AgentEnvironment.variables(configuration) {
            print("export \(name)=\(AgentEnvironment.shellQuote(value))")
        }
    }
}

/// `flightlog run -- CMD…`: runs an agent with the recorder's variables set.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a command (an agent) through the recorder.")

    @OptionGroup var options: DaemonOptions

    @Argument(parsing: .captureForPassthrough, help: "The command to run, after --.")
    var command: [String] = []

    func run() async throws {
        var argv = command
        if argv.first == "--" { argv.removeFirst() }
        guard let program = argv.first else { throw CLIError("flightlog run needs a command: flightlog run -- claude -p hi") }
        let configuration = try await options.loadConfiguration(component: "flightlog")
        for (name, value) in try AgentEnvironment.variables(configuration) { setenv(name, value, 1) }
        let error = ProcessReplacement.exec(program, arguments: argv, searchPath: true)
        throw CLIError("cannot run \(program): \(String(cString: strerror(error)))")
    }
}

/// What makes an agent use the gateway and trust its CA.
enum AgentEnvironment {
    static let systemRoots = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]

    static func variables(_ configuration: Configuration) throws -> [(String, String)] {
        let state = StateDirectory(root: configuration.home)
        let authority = try CertificateAuthority.loadOrCreate(in: state)
        try writeBundle(state: state, caPEM: authority.certificatePEM)
        let proxy = "http://\(configuration.gateway.listen)"
        return [
            ("HTTPS_PROXY", proxy), ("https_proxy", proxy), ("HTTP_PROXY", proxy), ("http_proxy", proxy),
            ("NO_PROXY", "localhost,127.0.0.1,::1"), ("no_proxy", "localhost,127.0.0.1,::1"),
            ("NODE_EXTRA_CA_CERTS", state.caCertificate),
            ("SSL_CERT_FILE", state.caBundle), ("REQUESTS_CA_BUNDLE", state.caBundle),
            ("CURL_CA_BUNDLE", state.caBundle), ("CODEX_CA_CERTIFICATE", state.caCertificate),
        ]
    }

    /// The system roots plus the Flightlog CA, rewritten when either changed.
    static func writeBundle(state: StateDirectory, caPEM: String) throws {
        let roots = systemRoots.lazy.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.first ?? ""
        let bundle = roots + (roots.hasSuffix("\n") || roots.isEmpty ? "" : "\n") + caPEM
        if (try? String(contentsOfFile: state.caBundle, encoding: .utf8)) == bundle { return }
        let tmp = state.caBundle + ".tmp"
        try bundle.write(toFile: tmp, atomically: false, encoding: .utf8)
        chmod(tmp, 0o644)
        guard rename(tmp, state.caBundle) == 0 else { throw CLIError("cannot write \(state.caBundle): errno \(errno)") }
    }

    static func shellQuote(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
