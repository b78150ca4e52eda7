import Logging

/// Structured logs to stderr, once per process, at the configured level.
public enum LoggingSetup {
    /// Bootstraps swift-log and returns the component's logger (metadata `component`).
    public static func bootstrap(component: String, level: String) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: level) ?? .info
            return handler
        }
        var logger = Logger(label: "flightlog.\(component)")
        logger[metadataKey: "component"] = "\(component)"
        return logger
    }
}
