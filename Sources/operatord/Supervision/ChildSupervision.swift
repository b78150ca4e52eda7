/// The supervision of one daemon as a value type: events in, actions out, no I/O.
///
/// A crashed child is restarted with exponential backoff (0.5 s doubling to 30 s); more than
/// `crashLoopLimit` failures within `crashLoopWindow` seconds stops the restarts (state `failed`) until an
/// operator asks for a restart. A child that ran for `stableAfter` seconds has its backoff reset.
struct ChildSupervision: Equatable {
    enum State: Equatable {
        /// Never started, or stopped on request.
        case stopped
        /// Spawned (or adopted), not yet reporting ready.
        case starting(pid: Int32, since: Double)
        case running(pid: Int32, since: Double)
        /// Asked to exit; `thenRestart` for a `restart` command.
        case stopping(pid: Int32, thenRestart: Bool, since: Double)
        /// Crashed; respawn at `until`.
        case backoff(until: Double)
        /// Crash loop: left down until an operator intervenes.
        case failed(reason: String)
    }

    enum Action: Equatable {
        case none
        case spawn
        /// Send `signal` to `pid` (SIGTERM to stop, SIGKILL after the grace period).
        case signal(pid: Int32, signal: Int32)
        case reportFailure(String)
    }

    private(set) var state: State = .stopped
    private(set) var restarts = 0
    private(set) var adopted = false
    private(set) var lastExit: String?
    private var failures: [Double] = []
    private var backoff: Double = 0.5

    let crashLoopLimit = 6
    let crashLoopWindow: Double = 120
    let stableAfter: Double = 60
    let stopGrace: Double = 10

    var pid: Int32? {
        switch state {
        case .starting(let pid, _), .running(let pid, _), .stopping(let pid, _, _): pid
        case .stopped, .backoff, .failed: nil
        }
    }

    var name: String {
        switch state {
        case .stopped: "stopped"
        case .starting: "starting"
        case .running: "running"
        case .stopping: "stopping"
        case .backoff: "backoff"
        case .failed: "failed"
        }
    }

    /// Start the child (at operatord start, or after `stop`).
    mutating func start() -> Action {
        switch state {
        case .stopped, .failed, .backoff: return .spawn
        case .starting, .running, .stopping: return .none
        }
    }

    mutating func spawned(pid: Int32, now: Double, adopted: Bool = false) {
        self.adopted = adopted
        state = adopted ? .running(pid: pid, since: now) : .starting(pid: pid, since: now)
    }

    /// The child wrote a status file with its pid.
    mutating func becameReady(now: Double) {
        if case .starting(let pid, _) = state { state = .running(pid: pid, since: now) }
    }

    mutating func exited(pid: Int32, description: String, now: Double) -> Action {
        guard self.pid == pid else { return .none }
        lastExit = description
        switch state {
        case .stopping(_, let thenRestart, _):
            if thenRestart {
                restarts += 1
                return .spawn
            }
            state = .stopped
            return .none
        case .starting(_, let since), .running(_, let since):
            if now - since >= stableAfter { backoff = 0.5 }
            failures = failures.filter { now - $0 < crashLoopWindow } + [now]
            if failures.count > crashLoopLimit {
                let reason = "crashed \(failures.count) times in \(Int(crashLoopWindow)) s; last: \(description)"
                state = .failed(reason: reason)
                return .reportFailure(reason)
            }
            state = .backoff(until: now + backoff)
            backoff = min(backoff * 2, 30)
            return .none
        case .stopped, .backoff, .failed:
            return .none
        }
    }

    /// Periodic: respawn after backoff, escalate a stop that takes too long.
    mutating func tick(now: Double) -> Action {
        switch state {
        case .backoff(let until) where now >= until:
            restarts += 1
            return .spawn
        case .stopping(let pid, _, let since) where now - since >= stopGrace:
            return .signal(pid: pid, signal: 9)
        case .stopped, .starting, .running, .stopping, .backoff, .failed:
            return .none
        }
    }

    /// `restart COMPONENT`: stop gracefully, then spawn at once; also clears a crash loop.
    mutating func restartRequested(now: Double) -> Action {
        failures.removeAll()
        backoff = 0.5
        switch state {
        case .starting(let pid, _), .running(let pid, _):
            state = .stopping(pid: pid, thenRestart: true, since: now)
            return .signal(pid: pid, signal: 15)
        case .stopping(let pid, _, let since):
            state = .stopping(pid: pid, thenRestart: true, since: since)
            return .none
        case .stopped, .backoff, .failed:
            restarts += 1
            return .spawn
        }
    }

    mutating func stopRequested(now: Double) -> Action {
        switch state {
        case .starting(let pid, _), .running(let pid, _):
            state = .stopping(pid: pid, thenRestart: false, since: now)
            return .signal(pid: pid, signal: 15)
        case .stopping(let pid, _, let since):
            state = .stopping(pid: pid, thenRestart: false, since: since)
            return .none
        case .backoff, .failed, .stopped:
            state = .stopped
            return .none
        }
    }
}
