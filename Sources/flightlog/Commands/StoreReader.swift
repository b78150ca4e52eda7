import Foundation
import Logging
import NIOPosix
import PostgresNIO
import SQLiteNIO
import Shared

/// Read access to the database for the CLI: plain queries returning rows of text, for either backend.
/// The CLI keeps no state of its own; what it reads and exports is written to `access_audit_log`.
struct StoreReader {
    enum Backend {
        case sqlite(SQLiteConnection)
        case postgres(PostgresClient, Task<Void, Never>)
    }

    let backend: Backend

    static func open(_ configuration: Configuration) async throws -> StoreReader {
        let url = configuration.database.url
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard FileManager.default.fileExists(atPath: path) else {
                throw CLIError("no database at \(path) yet: start the recorder (flightlog up) and send a request through it")
            }
            let connection = try await SQLiteConnection.open(storage: .file(path: path))
            _ = try await connection.query("PRAGMA busy_timeout=5000", [])
            return StoreReader(backend: .sqlite(connection))
        }
        guard let c = URLComponents(string: url), let host = c.host, let user = c.user else {
            throw CLIError("database.url: '\(url)' is not postgres://user@host:port/db")
        }
        let database = String(c.path.dropFirst())
        let client = PostgresClient(configuration: .init(host: host, port: c.port ?? 5432, username: user,
                                                         password: c.password, database: database.isEmpty ? user : database,
                                                         tls: .disable))
        return StoreReader(backend: .postgres(client, Task { await client.run() }))
    }

    /// Rows as column name → text (nil for NULL). `?` placeholders; numbered for PostgreSQL here.
    func rows(_ sql: String, _ binds: [String] = []) async throws -> [[String: String?]] {
        switch backend {
        case .sqlite(let connection):
            return try await connection.query(sql, binds.map { .text($0) }).map { row in
                var out: [String: String?] = [:]
                for column in row.columns {
                    switch column.data {
                    case .null: out[column.name] = .some(nil)
                    case .integer(let i): out[column.name] = String(i)
                    case .float(let d): out[column.name] = String(d)
                    case .text(let s): out[column.name] = s
                    case .blob(let b): out[column.name] = String(buffer: b)
                    }
                }
                return out
            }
        case .postgres(let client, _):
            var n = 0
            var text = ""
            for ch in sql {
                if ch == "?" {
                    n += 1
                    text += "$\(n)::text"
                } else {
                    text.append(ch)
                }
            }
            var bindings = PostgresBindings()
            for b in binds { bindings.append(b) }
            // Every column is read as text so both backends print alike.
            let wrapped = "SELECT row_to_json(q)::text FROM (\(text)) q"
            var out: [[String: String?]] = []
            for try await json in try await client.query(PostgresQuery(unsafeSQL: wrapped, binds: bindings)).decode(String.self) {
                let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] ?? [:]
                out.append(object.mapValues { $0 is NSNull ? nil : "\($0)" })
            }
            return out
        }
    }

    /// Runs a statement that returns nothing.
    func execute(_ sql: String, _ binds: [String]) async throws {
        switch backend {
        case .sqlite(let connection):
            _ = try await connection.query(sql, binds.map { .text($0) })
        case .postgres(let client, _):
            var n = 0
            let text = sql.map { ch -> String in
                guard ch == "?" else { return String(ch) }
                n += 1
                return "$\(n)"
            }.joined()
            var bindings = PostgresBindings()
            for b in binds { bindings.append(b) }
            try await client.query(PostgresQuery(unsafeSQL: text, binds: bindings))
        }
    }

    /// Records who read or exported what (access_audit_log is append-only).
    func audit(action: String, target: String, detail: String = "") async {
        let actor = "uid:\(getuid())" + (ProcessInfo.processInfo.environment["USER"].map { " \($0)" } ?? "")
        let now = ISO8601DateFormatter().string(from: Date())
        do {
            try await execute("INSERT INTO access_audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                              [now, actor, action, target, detail])
        } catch {
            FileHandle.standardError.write(Data("flightlog: could not write the access audit log: \(error)\n".utf8))
        }
    }

    func close() async {
        switch backend {
        case .sqlite(let connection): try? await connection.close()
        case .postgres(_, let task): task.cancel()
        }
    }
}
