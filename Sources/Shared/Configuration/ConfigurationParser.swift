import Configuration
import Foundation

/// Turns the layered raw values into a typed ``Configuration``; each bad value names its key.
struct ConfigurationParser {
    let reader: ConfigReader
    let defaultHome: String

    func parse() throws -> Configuration {
        let home = expandTilde(reader.string(forKey: "home") ?? defaultHome)
        var c = Configuration(home: home)

        try value("gateway.listen") { c.gateway.listen = try address($0, key: "gateway.listen") }
        if let entries = list("gateway.upstream_override") {
            for entry in entries where !entry.isEmpty {
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw ConfigurationError(.invalidValue, key: "gateway.upstream_override",
                                             "'\(entry)' is not host=addr:port")
                }
                c.gateway.upstreamOverride[parts[0].lowercased()] =
                    try address(parts[1], key: "gateway.upstream_override")
            }
        }
        try value("gateway.upstream_ca") { c.gateway.upstreamCA = $0.isEmpty ? nil : expandTilde($0) }
        try value("gateway.max_header_bytes") { c.gateway.maxHeaderBytes = try size($0, "gateway.max_header_bytes") }
        try value("gateway.idle_timeout") { c.gateway.idleTimeout = try duration($0, "gateway.idle_timeout") }
        try value("gateway.upstream_connect_timeout") {
            c.gateway.upstreamConnectTimeout = try duration($0, "gateway.upstream_connect_timeout")
        }
        try value("gateway.websocket_max_frame_bytes") {
            c.gateway.webSocketMaxFrameBytes = try size($0, "gateway.websocket_max_frame_bytes")
        }
        try value("gateway.websocket_max_message_bytes") {
            c.gateway.webSocketMaxMessageBytes = try size($0, "gateway.websocket_max_message_bytes")
        }
        try value("gateway.max_idle_upstream_per_host") {
            c.gateway.maxIdleUpstreamPerHost = try integer($0, "gateway.max_idle_upstream_per_host")
        }
        try value("gateway.threads") { c.gateway.threads = try integer($0, "gateway.threads") }

        try value("capture.on_failure") { c.capture.onFailure = try choice($0, "capture.on_failure") }
        try value("capture.redact_bodies") { c.capture.redactBodies = try boolean($0, "capture.redact_bodies") }
        try value("capture.memory_buffer_bytes") {
            c.capture.memoryBufferBytes = try size($0, "capture.memory_buffer_bytes")
        }
        try value("capture.spool_max_bytes") { c.capture.spoolMaxBytes = try size($0, "capture.spool_max_bytes") }
        try value("capture.max_body_bytes") { c.capture.maxBodyBytes = try size($0, "capture.max_body_bytes") }

        try value("ingest.compression") { c.ingest.compression = try choice($0, "ingest.compression") }
        try value("ingest.wal_max_bytes") { c.ingest.walMaxBytes = try size($0, "ingest.wal_max_bytes") }
        try value("ingest.segment_bytes") { c.ingest.segmentBytes = try size($0, "ingest.segment_bytes") }

        try value("sessions.idle_timeout") { c.sessions.idleTimeout = try duration($0, "sessions.idle_timeout") }
        try value("sessions.price_file") { c.sessions.priceFile = $0.isEmpty ? nil : expandTilde($0) }

        try value("database.url") {
            guard $0.hasPrefix("sqlite://") || $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://") else {
                throw ConfigurationError(.invalidValue, key: "database.url",
                                         "'\($0)' is neither sqlite:///path nor postgres://user@host:port/db")
            }
            c.database.url = $0
        }
        try value("operator.metrics_listen") { c.operator.metricsListen = try address($0, key: "operator.metrics_listen") }
        try value("operator.mode") {
            guard ["standalone", "systemd"].contains($0) else {
                throw ConfigurationError(.invalidValue, key: "operator.mode", "'\($0)' is not standalone or systemd")
            }
            c.operator.mode = $0
        }
        try value("log.level") {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains($0) else {
                throw ConfigurationError(.invalidValue, key: "log.level", "'\($0)' is not one of \(levels.joined(separator: ", "))")
            }
            c.log.level = $0
        }
        return c
    }

    // MARK: raw access

    private func value(_ key: String, _ apply: (String) throws -> Void) throws {
        if let raw = reader.string(forKey: ConfigKey(key)) {
            try apply(raw.trimmingCharacters(in: .whitespaces))
        }
    }

    private func list(_ key: String) -> [String]? {
        if let array = reader.stringArray(forKey: ConfigKey(key)) { return array }
        return reader.string(forKey: ConfigKey(key)).map { $0.split(separator: ",").map(String.init) }
    }

    // MARK: typed parsing

    private func address(_ text: String, key: String) throws -> SocketAddressSpec {
        guard let spec = SocketAddressSpec(parsing: text) else {
            throw ConfigurationError(.invalidValue, key: key, "'\(text)' is not host:port")
        }
        return spec
    }

    private func integer(_ text: String, _ key: String) throws -> Int {
        guard let n = Int(text), n >= 0 else {
            throw ConfigurationError(.invalidValue, key: key, "'\(text)' is not a non-negative integer")
        }
        return n
    }

    private func boolean(_ text: String, _ key: String) throws -> Bool {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigurationError(.invalidValue, key: key, "'\(text)' is not true or false")
        }
    }

    private func choice<T: RawRepresentable & CaseIterable>(_ text: String, _ key: String) throws -> T
    where T.RawValue == String {
        guard let v = T(rawValue: text.lowercased()) else {
            let options = T.allCases.map(\.rawValue).joined(separator: " | ")
            throw ConfigurationError(.invalidValue, key: key, "'\(text)' is not one of \(options)")
        }
        return v
    }

    private func duration(_ text: String, _ key: String) throws -> Duration {
        guard let d = DurationParser.parse(text) else {
            throw ConfigurationError(.invalidValue, key: key, "'\(text)' is not a duration such as 30s, 5m, 1h or 250ms")
        }
        return d
    }

    private func size(_ text: String, _ key: String) throws -> Int {
        guard let n = SizeParser.parse(text) else {
            throw ConfigurationError(.invalidValue, key: key, "'\(text)' is not a size such as 65536, 64KiB or 1GiB")
        }
        return n
    }

    private func expandTilde(_ path: String) -> String {
        guard path.hasPrefix("~/") else { return path }
        return NSHomeDirectory() + path.dropFirst()
    }
}

/// `250ms`, `30s`, `5m`, `1h`; a bare number is seconds.
public enum DurationParser {
    public static func parse(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if suffix == "s", number.hasSuffix("m") { continue }
            guard let v = Double(number), v >= 0, v.isFinite else { return nil }
            return .milliseconds(Int64((v * scale * 1000).rounded()))
        }
        guard let v = Double(text), v >= 0, v.isFinite else { return nil }
        return .milliseconds(Int64((v * 1000).rounded()))
    }
}

/// `65536`, `64KiB`, `64MB`, `1GiB` (KB/MB/GB are taken as powers of 1024 as operators expect for buffers).
public enum SizeParser {
    public static func parse(_ text: String) -> Int? {
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30),
            ("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30),
        ]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let v = Int(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), v >= 0 else { return nil }
            return v.multipliedReportingOverflow(by: scale).overflow ? nil : v * scale
        }
        guard let v = Int(text), v >= 0 else { return nil }
        return v
    }
}
