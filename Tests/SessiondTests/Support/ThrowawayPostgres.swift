import Foundation
import Synchronization

@testable import sessiond

/// One throwaway PostgreSQL cluster per test process (`scripts/pg-test-cluster.sh`, run as the `postgres`
/// user on a free loopback port), stopped when the process exits; a fresh database for every test.
/// `FLIGHTLOG_TEST_PG_URL` (a URL whose user may CREATE DATABASE) points the tests at a server instead.
actor ThrowawayPostgres {
    static let shared = ThrowawayPostgres()
    private var starting: Task<String, any Error>?

    /// `postgres://…/<new database>`.
    func database() async throws -> String {
        let base = try await server()
        let name = "t_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try await Self.psql(base, "CREATE DATABASE \(name)")
        return Self.url(base, database: name)
    }

    /// The server's URL (its `postgres` database), starting the cluster on first use.
    func server() async throws -> String {
        if let starting { return try await starting.value }
        let task = Task<String, any Error> {
            if let url = ProcessInfo.processInfo.environment["FLIGHTLOG_TEST_PG_URL"], !url.isEmpty { return url }
            let directory = NSTemporaryDirectory() + "flightlog-pg-\(getpid())-\(UUID().uuidString.prefix(8))"
            let result = await ChildProcess.run(Self.script, ["start", directory])
            guard result.status == 0,
                  let url = result.output.split(separator: "\n").last.map(String.init), url.hasPrefix("postgres://")
            else {
                throw SessiondError(.database, "cannot start the test PostgreSQL cluster: \(result.output)")
            }
            Self.stopAtExit(directory: directory)
            return url
        }
        starting = task
        return try await task.value
    }

    /// Runs one statement with psql as the server's superuser (what an administrator, or someone bypassing
    /// sessiond, would do).
    static func psql(_ url: String, _ sql: String) async throws {
        let result = await ChildProcess.run("/usr/bin/psql", [url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql])
        guard result.status == 0 else { throw SessiondError(.database, "psql: \(result.output)") }
    }

    /// `base` with its database replaced.
    static func url(_ base: String, database: String) -> String {
        guard let slash = base.range(of: "/", options: .backwards), base[..<slash.lowerBound].contains("@") else {
            return base + "/" + database
        }
        return String(base[..<slash.lowerBound]) + "/" + database
    }

    /// `base` with another user (and password).
    static func url(_ base: String, user: String, password: String) -> String {
        guard let scheme = base.range(of: "://"), let at = base.range(of: "@") else { return base }
        return String(base[..<scheme.upperBound]) + "\(user):\(password)" + String(base[at.lowerBound...])
    }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("scripts/pg-test-cluster.sh").path

    private static let directoriesToStop = Mutex<[String]>([])

    private static func stopAtExit(directory: String) {
        let first = directoriesToStop.withLock { list in
            list.append(directory)
            return list.count == 1
        }
        guard first else { return }
        atexit {
            for directory in ThrowawayPostgres.directoriesToStop.withLock({ $0 }) {
                _ = ChildProcess.runBlocking(ThrowawayPostgres.script, ["stop", directory])
                _ = ChildProcess.runBlocking("/bin/rm", ["-rf", directory])
            }
        }
    }
}
