/// A latency distribution as Prometheus keeps one: counts per bucket (upper bounds in seconds), their sum and
/// count. A daemon records into it and reports it in its status file; operatord renders it as a histogram.
public struct LatencyHistogram: Codable, Sendable, Equatable {
    /// Upper bounds in seconds, ascending; a last bucket (+Inf) takes the rest.
    public private(set) var bounds: [Double]
    /// Observations per bucket (not cumulative), one more than `bounds`.
    public private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    /// 1 ms to 10 s: a database commit's range, from a local SQLite file to a PostgreSQL server far away.
    public static let databaseBounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    public init(bounds: [Double] = LatencyHistogram.databaseBounds) {
        self.bounds = bounds.sorted()
        self.counts = Array(repeating: 0, count: bounds.count + 1)
    }

    public mutating func record(seconds: Double) {
        guard seconds.isFinite, seconds >= 0 else { return }
        let bucket = bounds.firstIndex { seconds <= $0 } ?? bounds.count
        counts[bucket] += 1
        sum += seconds
        count += 1
    }

    /// The Prometheus text exposition of this histogram (`# TYPE`, cumulative `_bucket` lines, `_sum`,
    /// `_count`), with `labels` on every line.
    public func prometheusText(name: String, help: String, labels: [(String, String)]) -> String {
        let base = labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }
        func line(_ suffix: String, _ extra: String?, _ value: String) -> String {
            let all = base + (extra.map { [$0] } ?? [])
            return "\(name)\(suffix){\(all.joined(separator: ","))} \(value)\n"
        }
        var out = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        var cumulative: UInt64 = 0
        for (i, bound) in bounds.enumerated() {
            cumulative += counts[i]
            out += line("_bucket", "le=\"\(Self.format(bound))\"", "\(cumulative)")
        }
        out += line("_bucket", "le=\"+Inf\"", "\(count)")
        out += line("_sum", nil, Self.format(sum))
        out += line("_count", nil, "\(count)")
        return out
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }

    private static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
