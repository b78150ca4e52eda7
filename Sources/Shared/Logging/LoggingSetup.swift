import Logging
import Synchronization

/// Structured logs to stderr, once per process, at the configured level; `log.level` can change while the
/// process runs (a reload), for every logger already made.
public enum LoggingSetup {
    /// The process's level. swift-log's bootstrap is process-wide, so its level is too.
    static let level = LiveLogLevel(.info)

    /// Bootstraps swift-log and returns the component's logger (metadata `component`).
    public static func bootstrap(component: String, level: String) -> Logger {
        setLevel(level)
        LoggingSystem.bootstrap { label in
            LiveLevelLogHandler(base: StreamLogHandler.standardError(label: label), level: Self.level)
        }
        var logger = Logger(label: "flightlog.\(component)")
        logger[metadataKey: "component"] = "\(component)"
        return logger
    }

    /// Sets the level of every logger of the process (an unknown name means `info`, as at start).
    public static func setLevel(_ name: String) {
        level.value = Logger.Level(rawValue: name) ?? .info
    }

    /// The level now in force.
    public static var currentLevel: Logger.Level { level.value }
}

/// A level shared by all handlers of the process, read on every log call (one relaxed atomic load).
final class LiveLogLevel: Sendable {
    private let index: Atomic<Int>

    init(_ level: Logger.Level) {
        index = Atomic(Self.index(of: level))
    }

    /// `allCases` builds a new array on every call; the level is read on every log call.
    private static let levels = Logger.Level.allCases

    var value: Logger.Level {
        get {
            let i = index.load(ordering: .relaxed)
            return Self.levels.indices.contains(i) ? Self.levels[i] : .info
        }
        set { index.store(Self.index(of: newValue), ordering: .relaxed) }
    }

    private static func index(of level: Logger.Level) -> Int {
        levels.firstIndex(of: level) ?? 2
    }
}

/// A `StreamLogHandler` whose level follows ``LiveLogLevel`` unless this one logger sets its own.
struct LiveLevelLogHandler: LogHandler {
    var base: StreamLogHandler
    let level: LiveLogLevel
    /// Set when code changes one logger's level (`logger.logLevel = …`); swift-log wants that to stay local.
    var override: Logger.Level?

    init(base: StreamLogHandler, level: LiveLogLevel) {
        self.base = base
        self.level = level
    }

    var logLevel: Logger.Level {
        get { override ?? level.value }
        set { override = newValue }
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        base.log(event: event)
    }
}
