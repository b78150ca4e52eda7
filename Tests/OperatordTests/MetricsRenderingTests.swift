import Shared
import Testing

@testable import operatord

@Suite struct MetricsRenderingTests {
    @Test func countersBecomeGaugesAndTheDatabaseHistogramAHistogram() {
        var latency = LatencyHistogram()
        latency.record(seconds: 0.004)
        latency.record(seconds: 0.2)
        let sessiond = ComponentStatus(component: "sessiond", startedAt: 0, counters: ["turns": 2],
                                       histograms: ["db_write_seconds": latency])
        let reports = [
            ComponentReport(name: "sessiond", state: "running", pid: 10, restarts: 1, adopted: false, lastExit: nil,
                            status: sessiond),
            ComponentReport(name: "gateway", state: "backoff", pid: nil, restarts: 3, adopted: false, lastExit: "signal 9",
                            status: nil),
        ]
        let text = MetricsRegistry().render(reports)
        #expect(text.contains(#"flightlog_turns{component="sessiond"} 2"#))
        #expect(text.contains(#"flightlog_component_up{component="gateway"} 0"#))
        #expect(text.contains(#"flightlog_component_restarts{component="gateway"} 3"#))
        #expect(text.contains("# TYPE flightlog_db_write_seconds histogram"))
        #expect(text.contains(#"flightlog_db_write_seconds_bucket{component="sessiond",le="0.005"} 1"#))
        #expect(text.contains(#"flightlog_db_write_seconds_bucket{component="sessiond",le="0.25"} 2"#))
        #expect(text.contains(#"flightlog_db_write_seconds_count{component="sessiond"} 2"#))
        #expect(Health.problem(reports) == "gateway is backoff: capture is not durable")
    }
}
