import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Shared

/// Prometheus text on `operator.metrics_listen` (`/metrics`) and `/healthz`, red (503) when capture is
/// not durable. Values come from the daemons' status reports, refreshed on every scrape.
struct MetricsServer: Service {
    let listen: SocketAddressSpec
    let supervisor: Supervisor
    let registry: MetricsRegistry
    let logger: Logger
    let group: any EventLoopGroup

    func run() async throws {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: listen.host, port: listen.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        logger.info("metrics listening", metadata: ["address": "\(listen)"])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { tasks in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        tasks.addTask { try? await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            for try await part in inbound {
                guard case .head(let head) = part else { continue }
                let reports = await supervisor.reports()
                let (status, body): (HTTPResponseStatus, String)
                switch head.uri {
                case "/metrics":
                    (status, body) = (.ok, registry.render(reports))
                case "/healthz":
                    let problem = Health.problem(reports)
                    (status, body) = problem == nil ? (.ok, "ok\n") : (.serviceUnavailable, "\(problem ?? "")\n")
                default:
                    (status, body) = (.notFound, "not found: try /metrics or /healthz\n")
                }
                var headers = HTTPHeaders()
                headers.add(name: "content-type", value: head.uri == "/metrics" ? "text/plain; version=0.0.4" : "text/plain")
                headers.add(name: "content-length", value: String(body.utf8.count))
                try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
                try await outbound.write(.end(nil))
            }
        }
    }
}

/// Whether capture is durable, from the components' reports.
enum Health {
    static func problem(_ reports: [ComponentReport]) -> String? {
        for report in reports where report.name == "gateway" || report.name == "ingestd" {
            guard report.state == "running", let status = report.status else {
                return "\(report.name) is \(report.state): capture is not durable"
            }
            if status.health == "failing" { return "\(report.name): \(status.detail ?? "failing")" }
        }
        return nil
    }
}

/// Gauges mirroring the components' counters, created on first sight and kept in one registry.
final class MetricsRegistry: @unchecked Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let lock = NSLock()
    private var gauges: [String: Gauge] = [:]

    func render(_ reports: [ComponentReport]) -> String {
        lock.lock()
        defer { lock.unlock() }
        for report in reports {
            set("flightlog_component_up", report.name, report.state == "running" ? 1 : 0)
            set("flightlog_component_restarts", report.name, Double(report.restarts))
            for (key, value) in report.status?.counters ?? [:] {
                set("flightlog_" + sanitize(key), report.name, value)
            }
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self) + Self.histograms(reports)
    }

    /// The daemons' latency histograms (sessiond's database writes), one family per name across components.
    /// Rendered from the reported buckets: swift-prometheus histograms take observations, and operatord only
    /// sees each daemon's cumulative counts.
    static func histograms(_ reports: [ComponentReport]) -> String {
        var byName: [String: [(String, LatencyHistogram)]] = [:]
        for report in reports {
            for (name, histogram) in report.status?.histograms ?? [:] {
                byName[name, default: []].append((report.name, histogram))
            }
        }
        var out = ""
        for name in byName.keys.sorted() {
            for (i, (component, histogram)) in (byName[name] ?? []).enumerated() {
                var text = histogram.prometheusText(name: "flightlog_" + name, help: Self.help[name] ?? name,
                                                    labels: [("component", component)])
                // One HELP/TYPE per family.
                if i > 0 { text = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.joined(separator: "\n") + "\n" }
                out += text
            }
        }
        return out
    }

    static let help = ["db_write_seconds": "Time from handing a batch of turns to the database to its commit."]

    private func set(_ name: String, _ component: String, _ value: Double) {
        let key = name + "|" + component
        let descriptor = MetricNameDescriptor(
            metricName: name, unitName: "", helpText: "A Flightlog daemon's status counter or gauge, per component.")
        let gauge = gauges[key] ?? registry.makeGauge(descriptor: descriptor, labels: [("component", component)])
        gauges[key] = gauge
        gauge.set(value)
    }

    private func sanitize(_ key: String) -> String {
        String(key.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
    }
}
