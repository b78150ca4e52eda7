import Crypto
import Foundation
import SwiftASN1
import Testing
import X509

@testable import Shared

@Suite struct CertificateAuthorityTests {
    let state: StateDirectory

    init() throws {
        state = StateDirectory(root: try TemporaryDirectory.make("ca"))
    }

    private func mode(_ path: String) -> mode_t {
        var st = stat()
        stat(path, &st)
        return st.st_mode & 0o777
    }

    @Test func firstUseCreatesAPrivateCA() throws {
        let ca = try CertificateAuthority.loadOrCreate(in: state)
        #expect(mode(state.caKey) == 0o600)
        #expect(mode(state.caDirectory) == 0o700)
        let basic = try #require(try ca.certificate.extensions.basicConstraints)
        #expect(basic == .isCertificateAuthority(maxPathLength: 0))
        #expect(try ca.certificate.extensions.keyUsage?.keyCertSign == true)
        #expect(ca.certificate.subject.description.contains(ProcessInfo.processInfo.hostName))
        // Loading again gives the same CA.
        let again = try CertificateAuthority.loadOrCreate(in: state)
        #expect(again.certificate == ca.certificate)
    }

    @Test func aKeyReadableByOthersIsRefused() throws {
        _ = try CertificateAuthority.loadOrCreate(in: state)
        chmod(state.caKey, 0o644)
        let error = #expect(throws: CertificateAuthorityError.self) { try CertificateAuthority.load(from: state) }
        #expect(error?.code == .insecureKey)
        #expect(error?.description.contains("ca.key") == true)
    }

    @Test(arguments: ["api.anthropic.com", "127.0.0.1", "::1"])
    func opensslVerifiesAMintedLeaf(host: String) throws {
        let ca = try CertificateAuthority.loadOrCreate(in: state)
        let leaf = try ca.mintLeaf(for: host, key: P256.Signing.PrivateKey())
        let leafPath = state.root + "/leaf-\(UUID().uuidString).pem"
        try (try leaf.serializeAsPEM().pemString + "\n").write(toFile: leafPath, atomically: true, encoding: .utf8)
        let isIP = host.contains(":") || host.first?.isNumber == true
        let (status, output) = try run("/usr/bin/openssl", ["verify", "-CAfile", state.caCertificate,
                                                              "-purpose", "sslserver",
                                                              isIP ? "-verify_ip" : "-verify_hostname", host, leafPath])
        #expect(status == 0, "openssl verify: \(output)")
        #expect(output.contains(": OK"))
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
