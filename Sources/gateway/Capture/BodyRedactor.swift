import Shared

/// The redaction applied to one body's capture copy: none, byte-stream, or SSE-aware for event streams.
enum BodyRedactor {
    case none
    case bytes(StreamingSecretRedactor)
    case events(SSESecretRedactor)

    /// The redactor for a body of `contentType`, when `capture.redact_bodies` is on.
    static func forBody(contentType: String?, enabled: Bool) -> BodyRedactor {
        guard enabled else { return .none }
        if contentType?.lowercased().hasPrefix("text/event-stream") == true { return .events(SSESecretRedactor()) }
        return .bytes(StreamingSecretRedactor())
    }

    var isActive: Bool {
        if case .none = self { return false }
        return true
    }

    mutating func feed(_ chunk: UnsafeRawBufferPointer) -> [UInt8] {
        switch self {
        case .none:
            return Array(chunk)
        case .bytes(var r):
            let out = r.feed(chunk)
            self = .bytes(r)
            return out
        case .events(var r):
            let out = r.feed(chunk)
            self = .events(r)
            return out
        }
    }

    mutating func finish() -> [UInt8] {
        switch self {
        case .none:
            return []
        case .bytes(var r):
            let out = r.finish()
            self = .bytes(r)
            return out
        case .events(var r):
            let out = r.finish()
            self = .events(r)
            return out
        }
    }

    var firedRules: [String] {
        switch self {
        case .none: []
        case .bytes(let r): r.firedRules
        case .events(let r): r.allFiredRules
        }
    }
}
