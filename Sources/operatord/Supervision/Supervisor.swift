import Foundation
import Logging
import Shared

/// Runs the daemons: spawns them in order (or adopts ones a previous operatord left running), watches
/// them, restarts a crashed one with backoff, and executes restart and stop requests. Decisions come from
/// ``ChildSupervision``; this actor only does the I/O they ask for.
actor Supervisor {
    private let binDirectory: String
    private let childArguments: [String]
    private let state: StateDirectory
    private let logger: Logger
    private let systemdMode: Bool
    private var children: [FlightlogComponent: ChildSupervision] = [:]
    private var processes: [Int32: Process] = [:]
    private var stopping = false

    init(binDirectory: String, childArguments: [String], state: StateDirectory, systemdMode: Bool, logger: Logger) {
        self.binDirectory = binDirectory
        self.childArguments = childArguments
        self.state = state
        self.systemdMode = systemdMode
        self.logger = logger
        for c in FlightlogComponent.allCases { children[c] = ChildSupervision() }
    }

    private var now: Double { Date().timeIntervalSince1970 }

    /// Starts sessiond, ingestd, then gateway, each once the previous reports ready (or adopts running ones).
    func startAll(readyTimeout: Double = 60) async {
        for component in FlightlogComponent.allCases {
            if systemdMode {
                if let status = ComponentStatus.read(from: state.statusFile(for: component.rawValue)) {
                    children[component]?.spawned(pid: status.pid, now: now, adopted: true)
                }
                continue
            }
            if let pid = adoptablePID(component) {
                logger.notice("adopting a running daemon", metadata: ["child": "\(component.rawValue)", "pid": "\(pid)"])
                children[component]?.spawned(pid: pid, now: now, adopted: true)
                continue
            }
            if let action = children[component]?.start() { perform(action, for: component) }
            let deadline = now + readyTimeout
            while now < deadline, !stopping {
                checkReadiness(component)
                if case .running = children[component]?.state { break }
                if case .backoff = children[component]?.state { break }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Watches until cancelled: readiness, adopted children's liveness, backoff timers, stop escalation.
    func watch() async {
        while !Task.isCancelled {
            tick()
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    func tick() {
        for component in FlightlogComponent.allCases {
            checkReadiness(component)
            if let pid = children[component]?.pid, processes[pid] == nil, !isAlive(pid) {
                exited(pid: pid, description: "exited (not a child of this operatord)")
            }
            guard !stopping, var child = children[component] else { continue }
            let action = child.tick(now: now)
            children[component] = child
            perform(action, for: component)
        }
    }

    func restart(_ component: FlightlogComponent) -> String {
        if systemdMode {
            let unit = "flightlog-\(component.rawValue).service"
            let (status, output) = Self.run("/usr/bin/systemctl", ["restart", unit])
            return status == 0 ? "restarted \(unit)" : "systemctl restart \(unit) failed: \(output)"
        }
        guard var child = children[component] else { return "unknown component" }
        let action = child.restartRequested(now: now)
        children[component] = child
        perform(action, for: component)
        return "restarting \(component.rawValue)"
    }

    /// Sends SIGHUP to every daemon that is up, so each re-reads the configuration. Standalone: the running
    /// children; a starting one is left alone (its handler may not be installed yet, and SIGHUP's default is to
    /// terminate). systemd: the pid in the unit's status file, which the daemon writes only once it serves.
    func signalReload() -> [(FlightlogComponent, ReloadDelivery)] {
        FlightlogComponent.allCases.map { component in
            let target: Int32
            if systemdMode {
                guard let status = ComponentStatus.read(from: state.statusFile(for: component.rawValue)),
                      isAlive(status.pid) else { return (component, .skipped("not running")) }
                target = status.pid
            } else {
                let child = children[component] ?? ChildSupervision()
                switch child.state {
                case .running(let pid, _):
                    target = pid
                case .starting:
                    return (component, .skipped("starting; not signalled (reload again once it is up)"))
                case .stopped, .stopping, .backoff, .failed:
                    return (component, .skipped("not running (\(child.name)); reads the configuration when it starts"))
                }
            }
            guard kill(target, SIGHUP) == 0 else {
                return (component, .skipped("cannot signal pid \(target): \(String(cString: strerror(errno)))"))
            }
            logger.info("asked a daemon to reload", metadata: ["child": "\(component.rawValue)", "pid": "\(target)"])
            return (component, .signalled(pid: target))
        }
    }

    /// Stops gateway first (it drains), then ingestd, then sessiond, waiting for each.
    func stopAll() async {
        stopping = true
        guard !systemdMode else { return }
        for component in FlightlogComponent.allCases.reversed() {
            guard var child = children[component] else { continue }
            let action = child.stopRequested(now: now)
            children[component] = child
            perform(action, for: component)
            let deadline = now + child.stopGrace + 5
            while now < deadline, let pid = children[component]?.pid {
                if processes[pid] == nil && !isAlive(pid) {
                    exited(pid: pid, description: "stopped")
                    break
                }
                guard var current = children[component] else { break }
                // Past the grace period the state machine escalates to SIGKILL.
                let escalation = current.tick(now: now)
                children[component] = current
                if case .signal(let target, let signal) = escalation { kill(target, signal) }
                try? await Task.sleep(for: .milliseconds(50))
            }
            unlink(state.pidFile(for: component.rawValue))
        }
    }

    func reports() -> [ComponentReport] {
        FlightlogComponent.allCases.map { component in
            let child = children[component] ?? ChildSupervision()
            let status = ComponentStatus.read(from: state.statusFile(for: component.rawValue))
            return ComponentReport(name: component.rawValue, state: child.name, pid: child.pid, restarts: child.restarts,
                                   adopted: child.adopted, lastExit: child.lastExit,
                                   status: status?.pid == child.pid ? status : nil)
        }
    }

    // MARK: - I/O for actions

    private func perform(_ action: ChildSupervision.Action, for component: FlightlogComponent) {
        switch action {
        case .none:
            return
        case .spawn:
            guard !stopping else { return }
            spawn(component)
        case .signal(let pid, let signal):
            logger.info("signalling child", metadata: ["child": "\(component.rawValue)", "pid": "\(pid)", "signal": "\(signal)"])
            kill(pid, signal)
        case .reportFailure(let reason):
            logger.critical("giving up on a crash-looping daemon", metadata: ["child": "\(component.rawValue)", "reason": "\(reason)"])
        }
    }

    private func spawn(_ component: FlightlogComponent) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(binDirectory)/\(component.rawValue)")
        process.arguments = childArguments
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { [weak self] p in
            let description = p.terminationReason == .uncaughtSignal
                ? "killed by signal \(p.terminationStatus)" : "exit status \(p.terminationStatus)"
            let pid = p.processIdentifier
            Task { await self?.exited(pid: pid, description: description) }
        }
        do {
            try process.run()
        } catch {
            logger.error("cannot start daemon", metadata: ["child": "\(component.rawValue)", "error": "\(error)"])
            // Counted as a crash, so a missing binary ends in backoff and then `failed`, not a tight loop.
            children[component]?.spawned(pid: -1, now: now)
            exited(pid: -1, description: "could not start: \(error)")
            return
        }
        let pid = process.processIdentifier
        processes[pid] = process
        children[component]?.spawned(pid: pid, now: now)
        try? "\(pid)\n".write(toFile: state.pidFile(for: component.rawValue), atomically: true, encoding: .utf8)
        logger.info("started daemon", metadata: ["child": "\(component.rawValue)", "pid": "\(pid)"])
    }

    private func exited(pid: Int32, description: String) {
        processes[pid] = nil
        for component in FlightlogComponent.allCases where children[component]?.pid == pid {
            guard var child = children[component] else { continue }
            logger.notice("daemon exited", metadata: ["child": "\(component.rawValue)", "pid": "\(pid)", "how": "\(description)"])
            let action = child.exited(pid: pid, description: description, now: now)
            children[component] = child
            perform(action, for: component)
        }
    }

    private func checkReadiness(_ component: FlightlogComponent) {
        guard case .starting(let pid, _)? = children[component]?.state else { return }
        if let status = ComponentStatus.read(from: state.statusFile(for: component.rawValue)), status.pid == pid {
            children[component]?.becameReady(now: now)
            logger.info("daemon ready", metadata: ["child": "\(component.rawValue)", "pid": "\(pid)"])
        }
    }

    /// A daemon a previous operatord started and that is still running: its pidfile names a live process
    /// whose executable is that daemon.
    private func adoptablePID(_ component: FlightlogComponent) -> Int32? {
        guard let text = try? String(contentsOfFile: state.pidFile(for: component.rawValue), encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0, isAlive(pid),
              let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
              exe.hasSuffix("/" + component.rawValue)
        else { return nil }
        return pid
    }

    private nonisolated func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        // A zombie is dead for our purposes.
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.first == "Z" { return false }
        }
        return true
    }

    static func run(_ tool: String, _ arguments: [String]) -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// What became of one daemon's SIGHUP on a reload.
enum ReloadDelivery: Equatable {
    case signalled(pid: Int32)
    case skipped(String)
}
