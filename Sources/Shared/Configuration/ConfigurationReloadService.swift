import Logging
import ServiceLifecycle
import UnixSignals

/// Turns SIGHUP into a reload, for as long as the daemon runs. SIGHUP never stops a daemon.
///
/// Made with ``make(onSignal:)``, which returns once the handler is installed: a daemon builds it before it
/// reports ready, so nobody can send the signal while its default action (terminate) still applies.
public struct ConfigurationReloadService: Service {
    private let signals: UnixSignalsSequence
    private let onSignal: @Sendable () async -> Void

    public static func make(onSignal: @escaping @Sendable () async -> Void) async -> ConfigurationReloadService {
        ConfigurationReloadService(signals: await UnixSignalsSequence(trapping: .sighup), onSignal: onSignal)
    }

    /// The usual case: SIGHUP reloads `reloader`.
    public static func make(reloader: ConfigurationReloader) async -> ConfigurationReloadService {
        await make { await reloader.reload() }
    }

    private init(signals: UnixSignalsSequence, onSignal: @escaping @Sendable () async -> Void) {
        self.signals = signals
        self.onSignal = onSignal
    }

    public func run() async throws {
        for await _ in signals.cancelOnGracefulShutdown() {
            await onSignal()
        }
    }
}
