/// A configuration problem, always naming the key (or file) so the one-line message says what to fix.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable {
        let raw: String
        public static let unknownKey = Code(raw: "unknown key")
        public static let invalidValue = Code(raw: "invalid value")
        public static let unreadableFile = Code(raw: "unreadable file")
        public static let malformedFile = Code(raw: "malformed file")
    }

    public var code: Code
    /// The dotted key (`gateway.listen`) or the file path the problem is about.
    public var key: String
    public var detail: String

    public init(_ code: Code, key: String, _ detail: String) {
        self.code = code
        self.key = key
        self.detail = detail
    }

    public var description: String {
        switch code {
        case .unknownKey: "configuration: unknown key '\(key)' (\(detail))"
        case .unreadableFile, .malformedFile: "configuration: \(code.raw) \(key): \(detail)"
        default: "configuration: invalid value for '\(key)': \(detail)"
        }
    }
}
