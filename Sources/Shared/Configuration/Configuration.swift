import Foundation

/// Everything every Flightlog daemon can be configured with, one nested struct per section of the
/// shared config file. Defaults live here and nowhere else.
///
/// The file, environment (`FLIGHTLOG_<SECTION>_<KEY>`) and flags are merged by
/// ``ConfigurationLoader``; code receives the section it needs, not the whole value.
public struct Configuration: Sendable, Equatable {
    /// `home`: the state directory (`FLIGHTLOG_HOME`).
    public var home: String
    public var gateway: Gateway
    public var capture: Capture
    public var ingest: Ingest
    public var sessions: Sessions
    public var database: Database
    public var `operator`: Operator
    public var log: Log

    /// The file the configuration came from, if any (for error messages and for passing on to children).
    public var sourcePath: String?

    public init(home: String) {
        self.home = home
        self.gateway = Gateway()
        self.capture = Capture()
        self.ingest = Ingest()
        self.sessions = Sessions()
        self.database = Database(url: "sqlite://\(home)/flightlog.db")
        self.operator = Operator()
        self.log = Log()
        self.sourcePath = nil
    }

    /// `gateway.*`
    public struct Gateway: Sendable, Equatable {
        /// `gateway.listen`: the proxy's listening address.
        public var listen: SocketAddressSpec = .init(host: "127.0.0.1", port: 8877)
        /// `gateway.upstream_override`: `host=addr:port` pairs; the TLS name and Host header stay the original.
        public var upstreamOverride: [String: SocketAddressSpec] = [:]
        /// `gateway.upstream_ca`: PEM file of roots trusted upstream in addition to the system roots.
        public var upstreamCA: String? = nil
        /// `gateway.max_header_bytes`: the request head limit; beyond it the client gets 431.
        public var maxHeaderBytes: Int = 64 * 1024
        /// `gateway.idle_timeout`: a client connection with no traffic for this long is closed.
        public var idleTimeout: Duration = .seconds(120)
        /// `gateway.upstream_connect_timeout`
        public var upstreamConnectTimeout: Duration = .seconds(10)
        /// `gateway.websocket_max_frame_bytes`
        public var webSocketMaxFrameBytes: Int = 16 * 1024 * 1024
        /// `gateway.websocket_max_message_bytes`
        public var webSocketMaxMessageBytes: Int = 64 * 1024 * 1024
        /// `gateway.max_idle_upstream_per_host`: keep-alive pool size per host and event loop.
        public var maxIdleUpstreamPerHost: Int = 8
        /// `gateway.threads`: event loop threads (0 = one per core).
        public var threads: Int = 0
        public init() {}
    }

    /// `capture.*`
    public struct Capture: Sendable, Equatable {
        public enum OnFailure: String, Sendable, Equatable, CaseIterable {
            /// Answer 503: nothing passes unrecorded.
            case block
            /// Forward and count the loss.
            case pass
        }
        /// `capture.on_failure`
        public var onFailure: OnFailure = .block
        /// `capture.redact_bodies`
        public var redactBodies: Bool = true
        /// `capture.memory_buffer_bytes`: unacknowledged frames kept in memory before spilling to the spool.
        public var memoryBufferBytes: Int = 64 * 1024 * 1024
        /// `capture.spool_max_bytes`: the disk spool's bound under `$home/spool/`.
        public var spoolMaxBytes: Int = 1024 * 1024 * 1024
        /// `capture.max_body_bytes`: bodies beyond this are stored truncated (ingestd).
        public var maxBodyBytes: Int = 64 * 1024 * 1024
        public init() {}
    }

    /// `ingest.*`
    public struct Ingest: Sendable, Equatable {
        public enum Compression: String, Sendable, Equatable, CaseIterable {
            case zstd, gzip
        }
        /// `ingest.compression`
        public var compression: Compression = .zstd
        /// `ingest.wal_max_bytes`: beyond this ingestd stops acknowledging.
        public var walMaxBytes: Int = 4 * 1024 * 1024 * 1024
        /// `ingest.segment_bytes`
        public var segmentBytes: Int = 64 * 1024 * 1024
        public init() {}
    }

    /// `sessions.*`
    public struct Sessions: Sendable, Equatable {
        /// `sessions.idle_timeout`
        public var idleTimeout: Duration = .seconds(300)
        /// `sessions.price_file`: an extra price table overriding the shipped one.
        public var priceFile: String? = nil
        public init() {}
    }

    /// `database.*`
    public struct Database: Sendable, Equatable {
        /// `database.url`: `sqlite:///path` or `postgres://user@host:port/db`.
        public var url: String
        public init(url: String) { self.url = url }
    }

    /// `operator.*`
    public struct Operator: Sendable, Equatable {
        /// `operator.metrics_listen`
        public var metricsListen: SocketAddressSpec = .init(host: "127.0.0.1", port: 9877)
        /// `operator.mode`: `standalone` spawns the daemons; `systemd` watches units.
        public var mode: String = "standalone"
        public init() {}
    }

    /// `log.*`
    public struct Log: Sendable, Equatable {
        /// `log.level`: trace, debug, info, notice, warning, error, critical.
        public var level: String = "info"
        public init() {}
    }
}

/// A `host:port` pair as written in the configuration (`127.0.0.1:8877`, `[::1]:8877`, `localhost:9443`).
public struct SocketAddressSpec: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`; IPv6 literals go in brackets.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let hostPart: Substring
        let portPart: Substring
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]") else { return nil }
            hostPart = trimmed[trimmed.index(after: trimmed.startIndex)..<close]
            let rest = trimmed[trimmed.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
        } else {
            guard let colon = trimmed.lastIndex(of: ":") else { return nil }
            hostPart = trimmed[..<colon]
            portPart = trimmed[trimmed.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port) else { return nil }
        self.host = String(hostPart)
        self.port = port
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
