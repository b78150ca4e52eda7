import Foundation
import Logging

/// Re-reads the configuration exactly as at start, and on success hands what changed to the daemon.
///
/// A configuration that does not load (unknown key, bad value, unreadable file) or that the daemon's apply
/// step refuses leaves the daemon on the configuration it runs: nothing is applied, the error is logged and
/// reported. Otherwise the live keys are applied (`log.level` here, the rest by the daemon's `apply`), and
/// every changed key the daemon reads is logged as applied or as needing a restart.
public actor ConfigurationReloader {
    /// Loads the configuration the way the daemon loaded it at start (same flags, same environment).
    public typealias Load = @Sendable () async throws -> Configuration
    /// Applies the plan's live keys. Throwing means none of them were applied: do the fallible work first.
    public typealias Apply =
        @Sendable (_ candidate: Configuration, _ plan: ConfigurationReloadPlan) async throws -> Void

    public let policy: ReloadPolicy
    /// What the daemon runs on: the start configuration plus the live keys applied since.
    public private(set) var running: Configuration
    private let reportPath: String?
    private let logger: Logger
    private let load: Load
    private let apply: Apply
    private var queue = OneAtATime<ReloadReport>()

    public init(policy: ReloadPolicy, running: Configuration, reportPath: String? = nil, logger: Logger,
                load: @escaping Load, apply: @escaping Apply = { _, _ in }) {
        self.policy = policy
        self.running = running
        self.reportPath = reportPath
        self.logger = logger
        self.load = load
        self.apply = apply
    }

    /// Reloads once; reloads requested while one runs wait their turn.
    @discardableResult
    public func reload() async -> ReloadReport {
        await queue.enqueue { await self.perform() }.value
    }

    private func perform() async -> ReloadReport {
        logger.info("re-reading the configuration", metadata: ["path": "\(running.sourcePath ?? "(none)")"])
        let candidate: Configuration
        let plan: ConfigurationReloadPlan
        do {
            candidate = try await load()
            plan = ConfigurationReloadPlan(running: running, candidate: candidate, policy: policy)
            try await apply(candidate, plan)
        } catch {
            logger.error("configuration refused; running on as before", metadata: ["error": "\(error)"])
            return report(ReloadReport(component: policy.component, ok: false, error: "\(error)"))
        }
        if plan.appliesLive("log.level") { LoggingSetup.setLevel(candidate.log.level) }
        running = plan.effective(running: running, candidate: candidate)
        for change in plan.changes {
            switch change.disposition {
            case .applyLive:
                logger.notice("configuration key applied", metadata: ["key": "\(change.key)"])
            case .needsRestart:
                logger.notice("configuration key changed; takes effect after a restart",
                              metadata: ["key": "\(change.key)", "restart": "\(policy.restartHint)"])
            }
        }
        if plan.changes.isEmpty { logger.info("configuration reloaded; nothing changed") }
        return report(ReloadReport(component: policy.component, ok: true, applied: plan.liveKeys,
                                   needsRestart: plan.restartKeys,
                                   restartHint: plan.restartKeys.isEmpty ? nil : policy.restartHint))
    }

    private func report(_ report: ReloadReport) -> ReloadReport {
        guard let reportPath else { return report }
        do {
            try report.write(to: reportPath)
        } catch {
            logger.warning("cannot write the reload report", metadata: ["error": "\(error)", "path": "\(reportPath)"])
        }
        return report
    }
}
