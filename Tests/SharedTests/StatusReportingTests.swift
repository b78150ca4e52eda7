import Foundation
import Logging
import ServiceLifecycle
import Testing

@testable import Shared

/// What a daemon tells systemd and operatord: sd_notify datagrams (READY, WATCHDOG, STOPPING) on a real
/// socket, and the latency histograms its status file carries.
@Suite struct StatusReportingTests {
    /// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
    final class NotifySocket: @unchecked Sendable {
        let path: String
        private let fd: Int32

        init() throws {
            path = try TemporaryDirectory.make("notify") + "/notify.sock"
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, b) in path.utf8.enumerated() { raw[i] = b }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            #expect(bound == 0)
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        /// The next datagram (nil after a minute without one: a broken build fails instead of hanging).
        func receive() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
        }

        /// Datagrams until one starts with `prefix` (returned), or nil.
        func receive(until prefix: String) async -> String? {
            await Task.detached {
                while let message = self.receive() {
                    if message.hasPrefix(prefix) { return message }
                }
                return nil
            }.value
        }
    }

    @Test func aDaemonSaysReadyPingsTheWatchdogAndSaysStopping() async throws {
        let notify = try NotifySocket()
        let state = StateDirectory(root: try TemporaryDirectory.make("status"))
        try state.prepareCommon()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        // A 200 ms watchdog: the reporter pings every 100 ms.
        let reporter = StatusReporter(component: "ingestd", state: state, logger: logger,
                                      environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"]) {
            ("ok", nil, ["frames": 1])
        }
        let group = ServiceGroup(configuration: .init(services: [.init(service: reporter)], logger: logger))
        let running = Task { try await group.run() }
        reporter.ready()

        let ready = await notify.receive(until: "READY=1")
        #expect(ready?.contains("MAINPID=\(getpid())") == true)
        #expect(FileManager.default.fileExists(atPath: state.statusFile(for: "ingestd")), "ready means the status file exists")
        #expect(await notify.receive(until: "WATCHDOG=1") != nil)
        #expect(await notify.receive(until: "WATCHDOG=1") != nil, "and keeps pinging")
        await group.triggerGracefulShutdown()
        #expect(await notify.receive(until: "STOPPING=1") != nil)
        try await running.value
    }

    @Test func withoutSystemdNothingIsSent() {
        #expect(!SystemdNotifier(environment: [:]).notify("READY=1"))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "0"]) == nil)
    }

    @Test func aHistogramCountsPerBucketAndRendersCumulatively() throws {
        var h = LatencyHistogram(bounds: [0.001, 0.01, 0.1])
        for s in [0.0005, 0.001, 0.002, 0.05, 3.0] { h.record(seconds: s) }
        h.record(seconds: .nan)
        #expect(h.counts == [2, 1, 1, 1])
        #expect(h.count == 5)
        let text = h.prometheusText(name: "flightlog_db_write_seconds", help: "h", labels: [("component", "sessiond")])
        #expect(text.contains("# TYPE flightlog_db_write_seconds histogram"))
        #expect(text.contains(#"flightlog_db_write_seconds_bucket{component="sessiond",le="0.001"} 2"#))
        #expect(text.contains(#"flightlog_db_write_seconds_bucket{component="sessiond",le="0.1"} 4"#))
        #expect(text.contains(#"flightlog_db_write_seconds_bucket{component="sessiond",le="+Inf"} 5"#))
        #expect(text.contains(#"flightlog_db_write_seconds_count{component="sessiond"} 5"#))

        // It travels in the status file.
        let status = ComponentStatus(component: "sessiond", startedAt: 0, histograms: ["db_write_seconds": h])
        let path = try TemporaryDirectory.make("histogram") + "/s.json"
        try status.write(to: path)
        #expect(ComponentStatus.read(from: path)?.histograms?["db_write_seconds"] == h)
    }
}
