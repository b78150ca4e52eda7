import Crypto
import Foundation

/// Replaces credential header values with `[REDACTED hmac:<12 hex>]` (DESIGN.md guarantee 6).
///
/// The HMAC key is per install, so the same key can be recognised across captures without being stored.
public struct CredentialRedactor: Sendable {
    /// Lower-cased names whose values never leave the gateway.
    public static let credentialHeaders: Set<String> = [
        "authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie", "set-cookie", "proxy-authorization",
    ]

    private let key: SymmetricKey

    public init(key: SymmetricKey) {
        self.key = key
    }

    /// Loads the install's key from `path`, creating it (0600) the first time.
    public static func loadOrCreateKey(at path: String) throws -> SymmetricKey {
        if let data = FileManager.default.contents(atPath: path), data.count >= 32 {
            return SymmetricKey(data: data)
        }
        let key = SymmetricKey(size: .bits256)
        let data = key.withUnsafeBytes { Data($0) }
        let tmp = path + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]),
              rename(tmp, path) == 0
        else {
            throw StateDirectoryError(path: path, detail: "cannot write the redaction key: errno \(errno)")
        }
        return key
    }

    public func isCredential(_ name: String) -> Bool {
        Self.credentialHeaders.contains(name.lowercased())
    }

    /// The redacted form of a credential value.
    public func redact(_ value: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(value.utf8), using: key)
        let hex = Hex.string(mac.prefix(6))
        return "[REDACTED hmac:\(hex)]"
    }

    /// The headers with every credential value redacted, order and names kept.
    public func redact(headers: [(String, String)]) -> [HeaderPair] {
        headers.map { name, value in [name, isCredential(name) ? redact(value) : value] }
    }
}
