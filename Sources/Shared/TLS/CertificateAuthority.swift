import Crypto
import Foundation
import SwiftASN1
import X509

/// The install's own certificate authority: a P-256 key and a self-signed CA certificate under `$home/ca/`.
///
/// The gateway signs one leaf per upstream host with it; agents trust it through `flightlog env`.
public struct CertificateAuthority: Sendable {
    public let certificate: Certificate
    public let privateKey: P256.Signing.PrivateKey
    /// The CA certificate in PEM, as written to `ca.pem`.
    public let certificatePEM: String

    /// Loads the CA from `state`, creating it on first use. Refuses a key readable by group or others.
    public static func loadOrCreate(in state: StateDirectory) throws(CertificateAuthorityError) -> CertificateAuthority {
        let fm = FileManager.default
        if fm.fileExists(atPath: state.caKey) || fm.fileExists(atPath: state.caCertificate) {
            return try load(from: state)
        }
        return try create(in: state)
    }

    /// Creates a new CA, replacing nothing: fails if one exists.
    public static func create(in state: StateDirectory) throws(CertificateAuthorityError) -> CertificateAuthority {
        do {
            try StateDirectory.ensureDirectory(state.root, mode: 0o750)
            try StateDirectory.ensureDirectory(state.caDirectory, mode: 0o700)
        } catch {
            throw CertificateAuthorityError(.unwritable, path: state.caDirectory, "\(error)")
        }
        let key = P256.Signing.PrivateKey()
        let host = ProcessInfo.processInfo.hostName
        let certificate: Certificate
        let pem: String
        do {
            let name = try DistinguishedName {
                OrganizationName("Flightlog")
                CommonName("Flightlog CA (\(host))")
            }
            let now = Date()
            certificate = try Certificate(
                version: .v3,
                serialNumber: .init(),
                publicKey: .init(key.publicKey),
                notValidBefore: now.addingTimeInterval(-3600),
                notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
                issuer: name,
                subject: name,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                    Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
                    SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
                },
                issuerPrivateKey: .init(key)
            )
            pem = try certificate.serializeAsPEM().pemString
        } catch {
            throw CertificateAuthorityError(.invalid, path: state.caCertificate, "cannot build the CA: \(error)")
        }
        // The key first, exclusively and 0600 from the start; then the certificate.
        try writeFile(state.caKey, contents: key.pemRepresentation + "\n", mode: 0o600)
        try writeFile(state.caCertificate, contents: pem + "\n", mode: 0o644)
        return CertificateAuthority(certificate: certificate, privateKey: key, certificatePEM: pem + "\n")
    }

    /// Loads an existing CA.
    public static func load(from state: StateDirectory) throws(CertificateAuthorityError) -> CertificateAuthority {
        var st = stat()
        guard stat(state.caKey, &st) == 0 else {
            throw CertificateAuthorityError(.missing, path: state.caKey, "ca.pem exists without its key; run `flightlog ca init` after moving ca/ aside")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw CertificateAuthorityError(.insecureKey, path: state.caKey,
                                            "mode \(String(st.st_mode & 0o777, radix: 8)) lets others read the CA key; chmod 600 it")
        }
        do {
            let keyPEM = try String(contentsOfFile: state.caKey, encoding: .utf8)
            let certPEM = try String(contentsOfFile: state.caCertificate, encoding: .utf8)
            let key = try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
            let certificate = try Certificate(pemEncoded: certPEM)
            guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
                throw CertificateAuthorityError(.invalid, path: state.caCertificate, "ca.pem does not match ca.key")
            }
            return CertificateAuthority(certificate: certificate, privateKey: key, certificatePEM: certPEM)
        } catch let error as CertificateAuthorityError {
            throw error
        } catch {
            throw CertificateAuthorityError(.invalid, path: state.caDirectory, "cannot read the CA: \(error)")
        }
    }

    /// A leaf certificate for `host` (a DNS name or an IP literal), valid for 397 days, signed by this CA.
    public func mintLeaf(for host: String, key: P256.Signing.PrivateKey) throws -> Certificate {
        let now = Date()
        let san: GeneralName
        if let ip = IPAddressBytes(host) {
            san = .ipAddress(ASN1OctetString(contentBytes: ArraySlice(ip)))
        } else {
            san = .dnsName(host)
        }
        let subject = try DistinguishedName {
            OrganizationName("Flightlog")
            CommonName(String(host.prefix(64)))
        }
        let caKeyID = try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        return try Certificate(
            version: .v3,
            serialNumber: .init(),
            publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(397 * 86400),
            issuer: certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([san])
                AuthorityKeyIdentifier(keyIdentifier: caKeyID)
            },
            issuerPrivateKey: .init(privateKey)
        )
    }

    private static func writeFile(_ path: String, contents: String, mode: mode_t) throws(CertificateAuthorityError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw CertificateAuthorityError(.unwritable, path: path, "cannot create: errno \(errno)")
        }
        defer { close(fd) }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0, fchmod(fd, mode) == 0 else {
            throw CertificateAuthorityError(.unwritable, path: path, "cannot write: errno \(errno)")
        }
    }
}

/// `192.0.2.1` or `2001:db8::1` as network-order bytes; nil for a DNS name.
func IPAddressBytes(_ host: String) -> [UInt8]? {
    let literal = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    var v4 = in_addr()
    if inet_pton(AF_INET, literal, &v4) == 1 {
        return withUnsafeBytes(of: &v4) { Array($0) }
    }
    var v6 = in6_addr()
    if inet_pton(AF_INET6, literal, &v6) == 1 {
        return withUnsafeBytes(of: &v6) { Array($0) }
    }
    return nil
}

/// The CA could not be created or loaded.
public struct CertificateAuthorityError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable {
        let raw: String
        public static let missing = Code(raw: "missing")
        public static let insecureKey = Code(raw: "insecure key")
        public static let invalid = Code(raw: "invalid")
        public static let unwritable = Code(raw: "unwritable")
    }

    public var code: Code
    public var path: String
    public var detail: String

    public init(_ code: Code, path: String, _ detail: String) {
        self.code = code
        self.path = path
        self.detail = detail
    }

    public var description: String { "CA \(code.raw): \(path): \(detail)" }
}
