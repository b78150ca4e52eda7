import NIOSSL
import Shared

/// The one client TLS context for every upstream connection: the system roots plus `gateway.upstream_ca`.
///
/// Creating a context that loads the system trust store costs milliseconds, so it is made once at start.
enum UpstreamTLS {
    static func makeContext(extraRoots: String?) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .default
        if let extraRoots {
            do {
                let certificates = try NIOSSLCertificate.fromPEMFile(extraRoots)
                configuration.additionalTrustRoots = [.certificates(certificates)]
            } catch {
                throw ConfigurationError(.invalidValue, key: "gateway.upstream_ca", "cannot load \(extraRoots): \(error)")
            }
        }
        configuration.applicationProtocols = ["http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }
}
