/// What one daemon does about each setting on a reload: which keys it reads at all, which of those it can
/// apply while running, and how an operator restarts it for the others.
public struct ReloadPolicy: Sendable {
    public var component: String
    /// Keys applied without a restart.
    public var liveKeys: Set<String>
    /// The keys this daemon reads: an exact key, or a prefix ending in `.` for a whole section.
    /// A change elsewhere is another daemon's business and is not reported here.
    public var usedKeys: [String]
    /// What to run for a key that needs a restart.
    public var restartHint: String

    public init(component: String, liveKeys: Set<String>, usedKeys: [String], restartHint: String) {
        self.component = component
        self.liveKeys = liveKeys
        self.usedKeys = usedKeys
        self.restartHint = restartHint
    }

    public func uses(_ key: String) -> Bool {
        usedKeys.contains { $0.hasSuffix(".") ? key.hasPrefix($0) : key == $0 }
    }

    public static let gateway = ReloadPolicy(
        component: "gateway", liveKeys: ["log.level", "capture.on_failure"],
        usedKeys: ["home", "log.", "gateway.", "capture.on_failure", "capture.redact_bodies",
                   "capture.memory_buffer_bytes", "capture.spool_max_bytes"],
        restartHint: "flightlog restart gateway")
    public static let ingestd = ReloadPolicy(
        component: "ingestd", liveKeys: ["log.level"],
        usedKeys: ["home", "log.", "ingest.", "capture.max_body_bytes"],
        restartHint: "flightlog restart ingestd")
    public static let sessiond = ReloadPolicy(
        component: "sessiond", liveKeys: ["log.level", "sessions.idle_timeout", "sessions.price_file"],
        usedKeys: ["home", "log.", "sessions.", "database."],
        restartHint: "flightlog restart sessiond")
    public static let `operator` = ReloadPolicy(
        component: "operatord", liveKeys: ["log.level"],
        usedKeys: ["home", "log.", "operator."],
        restartHint: "restart operatord: flightlog up again, or systemctl restart flightlog-operatord")

    public static func of(_ component: FlightlogComponent) -> ReloadPolicy {
        switch component {
        case .gateway: .gateway
        case .ingestd: .ingestd
        case .sessiond: .sessiond
        }
    }
}

/// The decision for one reload, as a value: which changed keys a daemon applies now and which wait for a
/// restart. No I/O; ``ConfigurationReloader`` executes it.
public struct ConfigurationReloadPlan: Sendable, Equatable {
    public enum Disposition: Sendable, Equatable {
        case applyLive
        case needsRestart
    }

    public struct Change: Sendable, Equatable {
        public var key: String
        public var disposition: Disposition
    }

    /// The changed keys this daemon reads, sorted by key.
    public let changes: [Change]

    public init(running: Configuration, candidate: Configuration, policy: ReloadPolicy) {
        changes = running.differingKeys(from: candidate).filter(policy.uses).map { key in
            Change(key: key, disposition: policy.liveKeys.contains(key) ? .applyLive : .needsRestart)
        }
    }

    public var liveKeys: [String] {
        changes.compactMap { change in
            switch change.disposition {
            case .applyLive: change.key
            case .needsRestart: nil
            }
        }
    }

    public var restartKeys: [String] {
        changes.compactMap { change in
            switch change.disposition {
            case .applyLive: nil
            case .needsRestart: change.key
            }
        }
    }

    /// Whether `key` changed and is to be applied now (for a daemon's apply closure).
    public func appliesLive(_ key: String) -> Bool {
        changes.contains { $0.key == key && $0.disposition == .applyLive }
    }

    /// The configuration the daemon runs on afterwards: `running` with only the live keys taken from
    /// `candidate`, so a key that waits for a restart is reported again on the next reload.
    public func effective(running: Configuration, candidate: Configuration) -> Configuration {
        var result = running
        result.adopt(liveKeys, from: candidate)
        return result
    }
}
