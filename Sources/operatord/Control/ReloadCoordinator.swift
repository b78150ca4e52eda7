import Foundation
import Logging
import Shared

/// operatord's `reload` (the control socket's command, or SIGHUP to operatord): re-read and check the
/// configuration as at start; if it is refused, say why and change nothing. If it is good, apply operatord's
/// own live keys, SIGHUP every daemon that is up, and collect what each one did from its reload report
/// (`run/<component>.reload.json`). No daemon is restarted, so capture never pauses.
actor ReloadCoordinator {
    private let reloader: ConfigurationReloader
    private let supervisor: Supervisor
    private let state: StateDirectory
    private let logger: Logger
    /// How long to wait for a signalled daemon's report before saying it did not answer.
    private let reportTimeout: Duration
    private var queue = OneAtATime<ControlReply>()

    init(reloader: ConfigurationReloader, supervisor: Supervisor, state: StateDirectory, logger: Logger,
         reportTimeout: Duration = .seconds(10)) {
        self.reloader = reloader
        self.supervisor = supervisor
        self.state = state
        self.logger = logger
        self.reportTimeout = reportTimeout
    }

    /// One reload at a time; a second request waits for the first and then runs its own.
    func reload() async -> ControlReply {
        await queue.enqueue { await self.perform() }.value
    }

    private func perform() async -> ControlReply {
        let own = await reloader.reload()
        guard own.ok else {
            // The daemons would refuse the same file: leave them alone.
            return ControlReply(ok: false, error: own.error, message: own.summary, reload: [own])
        }
        let since = Date().timeIntervalSince1970
        let deliveries = await supervisor.signalReload()
        var reports = [own]
        for (component, delivery) in deliveries {
            switch delivery {
            case .signalled(let pid):
                reports.append(await awaitReport(component, pid: pid, since: since))
            case .skipped(let why):
                reports.append(ReloadReport(component: component.rawValue, pid: nil, ok: true, note: why))
            }
        }
        let refused = reports.filter { !$0.ok }
        let message = "configuration reloaded: " + reports.map(\.summary).joined(separator: "; ")
        if refused.isEmpty {
            logger.notice("configuration reloaded", metadata: ["summary": "\(message)"])
        } else {
            logger.error("configuration reload incomplete", metadata: ["summary": "\(message)"])
        }
        let error = refused.isEmpty ? nil : refused.map(\.summary).joined(separator: "; ")
        return ControlReply(ok: refused.isEmpty, error: error, message: message, reload: reports)
    }

    /// Polls the daemon's report file for one written by `pid` after `since`.
    private func awaitReport(_ component: FlightlogComponent, pid: Int32, since: Double) async -> ReloadReport {
        let path = state.reloadFile(for: component.rawValue)
        let deadline = ContinuousClock.now + reportTimeout
        while ContinuousClock.now < deadline {
            if let report = ReloadReport.read(from: path), report.pid == pid, report.at >= since { return report }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return ReloadReport(component: component.rawValue, pid: pid, ok: false,
                            error: "sent SIGHUP to pid \(pid) but it did not report a reload within \(reportTimeout);"
                                + " see its log")
    }
}
