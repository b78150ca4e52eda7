import Testing

@testable import Shared
@testable import operatord

@Suite struct ChildSupervisionTests {
    @Test func startSpawnsThenReadinessMakesItRunning() {
        var c = ChildSupervision()
        #expect(c.start() == .spawn)
        c.spawned(pid: 10, now: 0)
        #expect(c.state == .starting(pid: 10, since: 0))
        #expect(c.start() == .none)
        c.becameReady(now: 1)
        #expect(c.state == .running(pid: 10, since: 1))
    }

    @Test func aCrashBacksOffExponentiallyThenRespawns() {
        var c = ChildSupervision()
        var now = 0.0
        var delays: [Double] = []
        for pid in Int32(1)...5 {
            c.spawned(pid: pid, now: now)
            #expect(c.exited(pid: pid, description: "exit status 1", now: now + 1) == .none)
            guard case .backoff(let until) = c.state else {
                Issue.record("not in backoff after crash \(pid)")
                return
            }
            delays.append(until - (now + 1))
            #expect(c.tick(now: until - 0.01) == .none)
            #expect(c.tick(now: until) == .spawn)
            now = until
        }
        #expect(delays == [0.5, 1, 2, 4, 8])
        #expect(c.restarts == 5)
        #expect(c.lastExit == "exit status 1")
    }

    @Test func aCrashLoopStopsRestartsUntilAnOperatorAsks() {
        var c = ChildSupervision()
        var now = 0.0
        var last: ChildSupervision.Action = .none
        for pid in Int32(1)...Int32(c.crashLoopLimit + 1) {
            c.spawned(pid: pid, now: now)
            now += 1
            last = c.exited(pid: pid, description: "killed by signal 9", now: now)
            if case .backoff(let until) = c.state { now = until }
        }
        guard case .reportFailure = last, case .failed = c.state else {
            Issue.record("no crash-loop verdict: \(c.state)")
            return
        }
        #expect(c.tick(now: now + 1000) == .none)
        #expect(c.restartRequested(now: now) == .spawn)
    }

    @Test func aStableRunResetsTheBackoff() {
        var c = ChildSupervision()
        c.spawned(pid: 1, now: 0)
        _ = c.exited(pid: 1, description: "x", now: 1)
        _ = c.tick(now: 10)
        c.spawned(pid: 2, now: 10)
        _ = c.exited(pid: 2, description: "x", now: 11)
        guard case .backoff(let until) = c.state else { return }
        #expect(until - 11 == 1)
        c.spawned(pid: 3, now: 20)
        _ = c.exited(pid: 3, description: "x", now: 20 + c.stableAfter + 1)
        guard case .backoff(let after) = c.state else { return }
        #expect(after - (20 + c.stableAfter + 1) == 0.5)
    }

    @Test func restartStopsGracefullyThenSpawnsAtOnce() {
        var c = ChildSupervision()
        c.spawned(pid: 7, now: 0)
        c.becameReady(now: 0)
        #expect(c.restartRequested(now: 5) == .signal(pid: 7, signal: 15))
        #expect(c.tick(now: 5 + c.stopGrace - 1) == .none)
        #expect(c.tick(now: 5 + c.stopGrace) == .signal(pid: 7, signal: 9))
        #expect(c.exited(pid: 7, description: "exit status 0", now: 6) == .spawn)
        #expect(c.restarts == 1)
    }

    @Test func stopLeavesItStopped() {
        var c = ChildSupervision()
        c.spawned(pid: 7, now: 0)
        #expect(c.stopRequested(now: 1) == .signal(pid: 7, signal: 15))
        #expect(c.exited(pid: 7, description: "exit status 0", now: 2) == .none)
        #expect(c.state == .stopped)
        #expect(c.tick(now: 100) == .none)
    }

    @Test func exitsOfOtherPidsAreIgnored() {
        var c = ChildSupervision()
        c.spawned(pid: 7, now: 0)
        #expect(c.exited(pid: 8, description: "x", now: 1) == .none)
        #expect(c.pid == 7)
    }

    @Test func adoptionCountsAsRunning() {
        var c = ChildSupervision()
        c.spawned(pid: 99, now: 0, adopted: true)
        #expect(c.state == .running(pid: 99, since: 0))
        #expect(c.adopted)
    }

    @Test func healthIsRedWhenCaptureIsNotDurable() {
        let ok = ComponentStatus(component: "gateway", startedAt: 0)
        var failing = ok
        failing.health = "failing"
        failing.detail = "capture not durable"
        func report(_ name: String, _ state: String, _ status: ComponentStatus?) -> ComponentReport {
            ComponentReport(name: name, state: state, pid: 1, restarts: 0, adopted: false, lastExit: nil, status: status)
        }
        #expect(Health.problem([report("gateway", "running", ok), report("ingestd", "running", ok)]) == nil)
        #expect(Health.problem([report("gateway", "running", ok), report("ingestd", "backoff", nil)]) != nil)
        #expect(Health.problem([report("gateway", "running", failing), report("ingestd", "running", ok)])?
                .contains("capture not durable") == true)
    }
}
