#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Replaces this process with another program (`flightlog up` becoming operatord, `flightlog run` becoming
/// the agent), as if it had been started afresh.
///
/// An async command runs on a thread of Swift's pool, which blocks most signals, and SwiftNIO ignores
/// SIGPIPE; `exec` keeps both. Left alone, the agent would ignore Ctrl-C and SIGTERM, never see SIGCHLD
/// (Codex then waits out its tool timeout), and get EPIPE where it expects SIGPIPE.
public enum ProcessReplacement {
    /// The signals whose disposition goes back to the default before `exec`.
    static let resetSignals: [Int32] = [SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2]

    /// Execs `program` with `arguments` (`arguments[0]` is the program's name), searching PATH when
    /// `searchPath` is set. Returns only on failure, with the `errno` of the failed exec.
    public static func exec(_ program: String, arguments: [String], searchPath: Bool) -> Int32 {
        resetSignalState()
        let cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        if searchPath {
            execvp(program, cArguments)
        } else {
            execv(program, cArguments)
        }
        return errno
    }

    /// Unblocks every signal for this thread and restores default dispositions.
    public static func resetSignalState() {
        for signal in resetSignals { _ = Glibc.signal(signal, SIG_DFL) }
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
    }
}
