/// Compare and copy the configuration one setting at a time, by its dotted key, so a reload can say which
/// keys changed and adopt only the ones a daemon applies live.
extension Configuration {
    /// How to compare and copy one setting of ``ConfigurationSchema``.
    struct Setting: Sendable {
        let differs: @Sendable (Configuration, Configuration) -> Bool
        let copy: @Sendable (inout Configuration, Configuration) -> Void

        init<Value: Equatable & Sendable>(_ path: any WritableKeyPath<Configuration, Value> & Sendable) {
            differs = { $0[keyPath: path] != $1[keyPath: path] }
            copy = { $0[keyPath: path] = $1[keyPath: path] }
        }
    }

    /// One entry per setting (every key of ``ConfigurationSchema`` that is not a section).
    static let settings: [String: Setting] = [
        "home": Setting(\.home),
        "gateway.listen": Setting(\.gateway.listen),
        "gateway.upstream_override": Setting(\.gateway.upstreamOverride),
        "gateway.upstream_ca": Setting(\.gateway.upstreamCA),
        "gateway.max_header_bytes": Setting(\.gateway.maxHeaderBytes),
        "gateway.idle_timeout": Setting(\.gateway.idleTimeout),
        "gateway.upstream_connect_timeout": Setting(\.gateway.upstreamConnectTimeout),
        "gateway.websocket_max_frame_bytes": Setting(\.gateway.webSocketMaxFrameBytes),
        "gateway.websocket_max_message_bytes": Setting(\.gateway.webSocketMaxMessageBytes),
        "gateway.max_idle_upstream_per_host": Setting(\.gateway.maxIdleUpstreamPerHost),
        "gateway.threads": Setting(\.gateway.threads),
        "capture.on_failure": Setting(\.capture.onFailure),
        "capture.redact_bodies": Setting(\.capture.redactBodies),
        "capture.memory_buffer_bytes": Setting(\.capture.memoryBufferBytes),
        "capture.spool_max_bytes": Setting(\.capture.spoolMaxBytes),
        "capture.max_body_bytes": Setting(\.capture.maxBodyBytes),
        "ingest.compression": Setting(\.ingest.compression),
        "ingest.wal_max_bytes": Setting(\.ingest.walMaxBytes),
        "ingest.segment_bytes": Setting(\.ingest.segmentBytes),
        "sessions.idle_timeout": Setting(\.sessions.idleTimeout),
        "sessions.price_file": Setting(\.sessions.priceFile),
        "database.url": Setting(\.database.url),
        "operator.metrics_listen": Setting(\.operator.metricsListen),
        "operator.mode": Setting(\.operator.mode),
        "log.level": Setting(\.log.level),
    ]

    /// The dotted keys this value can compare (for the test that keeps them in step with the schema).
    public static var settingKeys: Set<String> { Set(settings.keys) }

    /// The keys whose values differ between `self` and `other`, sorted.
    public func differingKeys(from other: Configuration) -> [String] {
        Self.settings.filter { $0.value.differs(self, other) }.keys.sorted()
    }

    /// Takes the values of `keys` from `other` and keeps everything else (unknown keys are ignored).
    public mutating func adopt(_ keys: some Sequence<String>, from other: Configuration) {
        for key in keys { Self.settings[key]?.copy(&self, other) }
    }
}
