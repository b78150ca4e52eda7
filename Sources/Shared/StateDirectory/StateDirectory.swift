import Foundation

/// The layout of `FLIGHTLOG_HOME`, the one directory all state lives under (DESIGN.md, "The store").
public struct StateDirectory: Sendable, Hashable {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    public var caDirectory: String { root + "/ca" }
    public var caCertificate: String { caDirectory + "/ca.pem" }
    public var caKey: String { caDirectory + "/ca.key" }
    /// The system roots plus the Flightlog CA, for agents (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`).
    public var caBundle: String { caDirectory + "/bundle.pem" }
    /// The per-install key for header HMACs (`[REDACTED hmac:…]`).
    public var redactionKey: String { caDirectory + "/redaction.key" }
    public var runDirectory: String { root + "/run" }
    public var ingestSocket: String { runDirectory + "/ingest.sock" }
    public var sessionSocket: String { runDirectory + "/session.sock" }
    public var operatorSocket: String { runDirectory + "/operator.sock" }
    public var walDirectory: String { root + "/wal" }
    public var spoolDirectory: String { root + "/spool" }
    public var objectsDirectory: String { root + "/objects" }
    public var capturesDirectory: String { root + "/captures" }
    public var databaseFile: String { root + "/flightlog.db" }

    public func pidFile(for component: String) -> String { runDirectory + "/\(component).pid" }
    public func statusFile(for component: String) -> String { runDirectory + "/\(component).status.json" }
    /// The outcome of the component's last configuration reload (``ReloadReport``).
    public func reloadFile(for component: String) -> String { runDirectory + "/\(component).reload.json" }

    /// Creates `path` (and parents) and sets its mode, so a directory made earlier with a looser mode is tightened.
    public static func ensureDirectory(_ path: String, mode: mode_t) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw StateDirectoryError(path: path, detail: "cannot create: \(error.localizedDescription)")
        }
        guard chmod(path, mode) == 0 else {
            throw StateDirectoryError(path: path, detail: "cannot set mode \(String(mode, radix: 8)): errno \(errno)")
        }
    }

    /// Creates the directories every daemon may touch: `run/` (0750, sockets 0660 inside) and the root (0750).
    public func prepareCommon() throws {
        try Self.ensureDirectory(root, mode: 0o750)
        try Self.ensureDirectory(runDirectory, mode: 0o750)
    }
}

/// A path under the state directory could not be prepared.
public struct StateDirectoryError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var detail: String
    public var description: String { "state directory: \(path): \(detail)" }
}
