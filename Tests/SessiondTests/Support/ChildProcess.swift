import Foundation

/// Runs a helper tool (the cluster script, psql) to completion with `posix_spawn` and `waitpid`, off the
/// cooperative pool.
///
/// Not Foundation's `Process`: its `waitUntilExit()` never returned for `scripts/pg-test-cluster.sh start`
/// here (the script's process stayed a zombie nobody reaped), which hung every PostgreSQL test.
enum ChildProcess {
    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    /// Runs `tool` with `arguments`; stdout and stderr go to a file (the server pg_ctl starts inherits
    /// descriptors, so a pipe might never reach end-of-file).
    static func run(_ tool: String, _ arguments: [String]) async -> Result {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: runBlocking(tool, arguments)) }
            thread.start()
        }
    }

    static func runBlocking(_ tool: String, _ arguments: [String]) -> Result {
        let outputPath = NSTemporaryDirectory() + "fl-child-\(UUID().uuidString).out"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, tool, &actions, nil, argv, environ)
        guard spawned == 0 else { return Result(status: -1, output: "cannot run \(tool): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return Result(status: -1, output: "waitpid \(tool): errno \(errno)") }
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS by hand (macros are not imported).
        let exited = status & 0x7f == 0
        return Result(status: exited ? (status >> 8) & 0xff : -1, output: output)
    }
}
