import Foundation

/// What a daemon reports about itself: written atomically to `run/<component>.status.json` about once a
/// second, read by operatord and `flightlog status`. A file rather than a socket so a daemon keeps
/// reporting even while operatord is down.
public struct ComponentStatus: Codable, Sendable, Equatable {
    public var component: String
    public var pid: Int32
    public var version: String
    /// Seconds since the epoch.
    public var startedAt: Double
    public var updatedAt: Double
    /// `ok`, `degraded` (working, something to look at) or `failing` (e.g. capture not durable).
    public var health: String
    public var detail: String?
    /// Counters and gauges by snake_case name (exchanges, bytes, wal_bytes, delivery_lag, …).
    public var counters: [String: Double]
    /// Latency distributions by snake_case name (sessiond: `db_write_seconds`), absent when a daemon has none.
    public var histograms: [String: LatencyHistogram]?

    public init(component: String, pid: Int32 = getpid(), version: String = FlightlogVersion.current,
                startedAt: Double, updatedAt: Double = Date().timeIntervalSince1970, health: String = "ok",
                detail: String? = nil, counters: [String: Double] = [:], histograms: [String: LatencyHistogram]? = nil) {
        self.component = component
        self.pid = pid
        self.version = version
        self.startedAt = startedAt
        self.updatedAt = updatedAt
        self.health = health
        self.detail = detail
        self.counters = counters
        self.histograms = histograms
    }

    enum CodingKeys: String, CodingKey {
        case component, pid, version
        case startedAt = "started_at"
        case updatedAt = "updated_at"
        case health, detail, counters, histograms
    }

    /// Writes the status to `path` atomically (temporary file + rename).
    public func write(to path: String) throws {
        try RunFile.write(self, to: path, what: "status file")
    }

    public static func read(from path: String) -> ComponentStatus? {
        RunFile.read(ComponentStatus.self, from: path)
    }
}

public enum FlightlogVersion {
    public static let current = "0.1.0"
}
