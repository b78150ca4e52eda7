import Foundation

/// One line of JSON to `run/operator.sock`: `{"command":"status"}`, `{"command":"restart","component":"ingestd"}`,
/// `{"command":"stop"}`, `{"command":"reload"}`.
public struct ControlRequest: Codable, Sendable, Equatable {
    public var command: String
    public var component: String?

    public init(command: String, component: String? = nil) {
        self.command = command
        self.component = component
    }
}

/// One line of JSON back.
public struct ControlReply: Codable, Sendable, Equatable {
    public var ok: Bool
    public var error: String?
    public var message: String?
    public var mode: String?
    public var components: [ComponentReport]?
    /// For `reload`: what operatord and each daemon did with the configuration.
    public var reload: [ReloadReport]?

    public init(ok: Bool, error: String? = nil, message: String? = nil, mode: String? = nil,
                components: [ComponentReport]? = nil, reload: [ReloadReport]? = nil) {
        self.ok = ok
        self.error = error
        self.message = message
        self.mode = mode
        self.components = components
        self.reload = reload
    }
}

/// What operatord knows about one supervised daemon.
public struct ComponentReport: Codable, Sendable, Equatable {
    public var name: String
    /// `starting`, `running`, `backoff`, `stopping`, `stopped`, `failed`.
    public var state: String
    public var pid: Int32?
    public var restarts: Int
    public var adopted: Bool
    public var lastExit: String?
    /// The daemon's own report (`run/<name>.status.json`), when it has one.
    public var status: ComponentStatus?

    public init(name: String, state: String, pid: Int32?, restarts: Int, adopted: Bool, lastExit: String?,
                status: ComponentStatus?) {
        self.name = name
        self.state = state
        self.pid = pid
        self.restarts = restarts
        self.adopted = adopted
        self.lastExit = lastExit
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case name, state, pid, restarts, adopted
        case lastExit = "last_exit"
        case status
    }
}

/// The supervised daemons, in start order (stop order is the reverse).
public enum FlightlogComponent: String, CaseIterable, Codable, Sendable {
    case sessiond, ingestd, gateway
}
