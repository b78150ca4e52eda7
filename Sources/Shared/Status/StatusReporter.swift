import Foundation
import Logging
import ServiceLifecycle

/// A daemon's heartbeat, as a service: writes `run/<component>.status.json` every second, tells systemd
/// READY=1 once `ready` has been called and WATCHDOG=1 at half the watchdog interval, STOPPING=1 at the end.
///
/// Every daemon runs one, so operatord and `flightlog status` read one format whatever the daemon.
public final class StatusReporter: Service, @unchecked Sendable {
    public typealias Snapshot = @Sendable () -> (health: String, detail: String?, counters: [String: Double])

    private let component: String
    private let path: String
    private let snapshot: Snapshot
    private let notifier: SystemdNotifier
    private let watchdog: Duration?
    private let startedAt = Date().timeIntervalSince1970
    private let logger: Logger
    private let readiness = AsyncStream<Void>.makeStream()
    private let histograms: (@Sendable () -> [String: LatencyHistogram])?

    /// `environment` is where systemd's variables are read (`NOTIFY_SOCKET`, `WATCHDOG_USEC`); `histograms`
    /// adds latency distributions to each report.
    public init(component: String, state: StateDirectory, logger: Logger,
                environment: [String: String] = ProcessInfo.processInfo.environment,
                histograms: (@Sendable () -> [String: LatencyHistogram])? = nil, snapshot: @escaping Snapshot) {
        self.component = component
        self.notifier = SystemdNotifier(environment: environment)
        self.watchdog = SystemdNotifier.watchdogInterval(environment: environment)
        self.histograms = histograms
        self.path = state.statusFile(for: component)
        self.snapshot = snapshot
        self.logger = logger
    }

    /// Marks the daemon as serving: the status file appears and systemd hears READY=1.
    public func ready() {
        readiness.continuation.yield()
        readiness.continuation.finish()
    }

    public func run() async throws {
        // Nothing is reported until the daemon says it serves, so "status file exists" means "ready".
        let stream = readiness.stream
        await cancelWhenGracefulShutdown {
            for await _ in stream { break }
        }
        guard !Task.isShuttingDownGracefully else { return }
        write()
        notifier.notify("READY=1\nMAINPID=\(getpid())")
        logger.info("ready", metadata: ["status_file": "\(path)"])
        let interval: Duration = min(.seconds(1), watchdog.map { $0 / 2 } ?? .seconds(1))
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: interval)
            write()
            if watchdog != nil { notifier.notify("WATCHDOG=1") }
        }
        notifier.notify("STOPPING=1")
        unlink(path)
    }

    private func write() {
        let s = snapshot()
        let status = ComponentStatus(component: component, startedAt: startedAt, health: s.health, detail: s.detail,
                                     counters: s.counters, histograms: histograms?())
        do {
            try status.write(to: path)
        } catch {
            logger.warning("cannot write the status file", metadata: ["error": "\(error)", "path": "\(path)"])
        }
    }
}
