import Foundation

/// Where objects live: `objects/{req,resp}/<2 hex>/<sha256>`, compressed. Readers (sessiond, `flightlog
/// verify`) use this; only ingestd writes.
public struct ObjectStoreLayout: Sendable {
    public let state: StateDirectory

    public init(state: StateDirectory) {
        self.state = state
    }

    public func directory(kind: ObjectKind, sha256: String) -> String {
        "\(state.objectsDirectory)/\(kind.rawValue)/\(sha256.prefix(2))"
    }

    public func path(kind: ObjectKind, sha256: String) -> String {
        "\(directory(kind: kind, sha256: sha256))/\(sha256)"
    }

    /// The stored (redacted) bytes of `reference`, decompressed.
    public func read(_ reference: BodyReference) throws -> [UInt8] {
        let path = path(kind: reference.kind, sha256: reference.sha256)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StateDirectoryError(path: path, detail: "object missing")
        }
        guard let format = CompressionFormat(rawValue: reference.compression) else {
            throw StateDirectoryError(path: path, detail: "unknown compression '\(reference.compression)'")
        }
        return try format.decompress([UInt8](data))
    }
}
