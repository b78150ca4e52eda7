import Foundation

/// What one daemon did with a reload: written by ``ConfigurationReloader`` to `run/<component>.reload.json`,
/// collected by operatord into the reply to `reload`.
public struct ReloadReport: Codable, Sendable, Equatable {
    public var component: String
    public var pid: Int32?
    /// Seconds since the epoch.
    public var at: Double
    /// false: the configuration was refused and the daemon runs on as before.
    public var ok: Bool
    /// The one-line reason when not ok (a ``ConfigurationError`` names the key).
    public var error: String?
    /// Changed keys applied without a restart.
    public var applied: [String]
    /// Changed keys that take effect only after a restart.
    public var needsRestart: [String]
    /// What to run for `needsRestart`.
    public var restartHint: String?
    /// Anything else an operator should know (e.g. "not running").
    public var note: String?

    public init(component: String, pid: Int32? = getpid(), at: Double = Date().timeIntervalSince1970, ok: Bool,
                error: String? = nil, applied: [String] = [], needsRestart: [String] = [], restartHint: String? = nil,
                note: String? = nil) {
        self.component = component
        self.pid = pid
        self.at = at
        self.ok = ok
        self.error = error
        self.applied = applied
        self.needsRestart = needsRestart
        self.restartHint = restartHint
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case component, pid, at, ok, error, applied
        case needsRestart = "needs_restart"
        case restartHint = "restart_hint"
        case note
    }

    /// One line: `gateway: applied log.level; needs a restart: gateway.listen (flightlog restart gateway)`.
    public var summary: String {
        var parts: [String] = []
        if let error { parts.append("kept the running configuration: \(error)") }
        if !applied.isEmpty { parts.append("applied " + applied.joined(separator: ", ")) }
        if !needsRestart.isEmpty {
            let hint = restartHint.map { " (\($0))" } ?? ""
            parts.append("needs a restart: " + needsRestart.joined(separator: ", ") + hint)
        }
        if let note { parts.append(note) }
        if parts.isEmpty { parts.append("no change") }
        return "\(component): " + parts.joined(separator: "; ")
    }

    /// Writes the report atomically (temporary file + rename).
    public func write(to path: String) throws {
        try RunFile.write(self, to: path, what: "reload report")
    }

    public static func read(from path: String) -> ReloadReport? {
        RunFile.read(ReloadReport.self, from: path)
    }
}
