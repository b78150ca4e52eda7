import Crypto
import NIOConcurrencyHelpers
import NIOSSL
import Shared
import SwiftASN1
import X509

/// Server TLS contexts for intercepted hosts, one leaf per host, minted once and kept.
///
/// Minting happens under the lock: racing first connections to a new host wait for the one mint
/// (about a millisecond) instead of each signing their own leaf.
final class LeafCertificateCache: Sendable {
    private let authority: CertificateAuthority
    /// One key for every leaf: generating a P-256 key per host buys nothing (the CA is the trust anchor)
    /// and costs time on every first connection.
    private let leafKey: P256.Signing.PrivateKey
    private let sslKey: NIOSSLPrivateKey
    private let contexts = NIOLockedValueBox<[String: NIOSSLContext]>([:])

    init(authority: CertificateAuthority) throws {
        self.authority = authority
        self.leafKey = P256.Signing.PrivateKey()
        self.sslKey = try NIOSSLPrivateKey(bytes: Array(leafKey.derRepresentation), format: .der)
    }

    /// The number of hosts with a minted leaf.
    var count: Int { contexts.withLockedValue { $0.count } }

    /// The server context presenting `host`'s leaf, minting it on first use.
    func serverContext(for host: String) throws -> NIOSSLContext {
        let key = host.lowercased()
        return try contexts.withLockedValue { cache in
            if let context = cache[key] { return context }
            let leaf = try authority.mintLeaf(for: key, key: leafKey)
            var serializer = DER.Serializer()
            try serializer.serialize(leaf)
            let chain = [
                NIOSSLCertificateSource.certificate(try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)),
            ]
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(sslKey))
            // Offering only HTTP/1.1: agents that also offer h2 fall back to it.
            configuration.applicationProtocols = ["http/1.1"]
            let context = try NIOSSLContext(configuration: configuration)
            cache[key] = context
            return context
        }
    }

    /// The DER of `host`'s leaf (for tests and `openssl verify`).
    func mintedLeafDER(for host: String) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(try authority.mintLeaf(for: host, key: leafKey))
        return serializer.serializedBytes
    }
}
