#if canImport(Glibc)
import Glibc
#endif

/// Signal dispositions a daemon needs from its first instruction.
public enum DaemonSignals {
    /// SIGHUP means "reload" to every Flightlog daemon, but the reload service that traps it starts only once
    /// the daemon is assembled (after sessiond's migrations, say). Until then SIGHUP's default action would
    /// stop the daemon; ignoring it until the trap is installed makes an early SIGHUP a no-op instead.
    /// (The trap replaces this disposition; `flightlog run` resets it for the programs it starts.)
    public static func holdReloadUntilReady() {
        _ = signal(SIGHUP, SIG_IGN)
    }
}
