/// One kind of secret the body redactor looks for: a literal prefix followed by a run of token characters.
///
/// Hand-written rather than regular expressions so the matcher can run over a byte stream, decide
/// at a chunk boundary whether it needs more bytes, and stay at a few hundred MB/s.
public struct SecretRule: Sendable {
    public enum Body: Sendable {
        /// `prefix` then `minLength...maxLength` bytes of `alphabet`, ending at a non-alphabet byte.
        case token(alphabet: ByteSet, minLength: Int, maxLength: Int)
        /// A PEM block from `prefix` through the matching `-----END … PRIVATE KEY-----` line.
        case pemBlock(maxLength: Int)
    }

    public let name: String
    public let prefixes: [[UInt8]]
    public let body: Body

    public init(name: String, prefixes: [String], body: Body) {
        self.name = name
        self.prefixes = prefixes.map { Array($0.utf8) }
        self.body = body
    }

    /// The longest span this rule can match, so the streaming matcher knows how much to hold back.
    public var maximumMatchLength: Int {
        let p = prefixes.map(\.count).max() ?? 0
        switch body {
        case .token(_, _, let maxLength): return p + maxLength
        case .pemBlock(let maxLength): return maxLength
        }
    }
}

/// A set of bytes as a 256-bit table.
/// Its members are inlinable: `contains` runs per byte in scanners of other modules (sessiond's anomaly
/// detector), where a cross-module call per byte was a visible share of the CPU time.
public struct ByteSet: Sendable {
    @usableFromInline var bits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    public init(_ ranges: [ClosedRange<UInt8>], _ extra: String = "") {
        for r in ranges { for b in r { insert(b) } }
        for b in extra.utf8 { insert(b) }
    }

    @inlinable
    public mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: bits.0 |= bit
        case 1: bits.1 |= bit
        case 2: bits.2 |= bit
        default: bits.3 |= bit
        }
    }

    @inlinable @inline(__always)
    public func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return bits.0 & bit != 0
        case 1: return bits.1 & bit != 0
        case 2: return bits.2 & bit != 0
        default: return bits.3 & bit != 0
        }
    }

    public static let alphanumeric = ByteSet([UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                                              UInt8(ascii: "0")...UInt8(ascii: "9")])
    public static let upperAlphanumeric = ByteSet([UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9")])
    public static let urlSafe = ByteSet([UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                                         UInt8(ascii: "0")...UInt8(ascii: "9")], "-_")
    public static let slack = ByteSet([UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                                       UInt8(ascii: "0")...UInt8(ascii: "9")], "-")
}

extension SecretRule {
    /// The one rule set: the gateway redacts with it, sessiond flags exposures with it.
    public static let standard: [SecretRule] = [
        SecretRule(name: "aws_access_key", prefixes: ["AKIA", "ASIA", "ABIA", "ACCA"],
                   body: .token(alphabet: .upperAlphanumeric, minLength: 16, maxLength: 16)),
        SecretRule(name: "github_token", prefixes: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
                   body: .token(alphabet: .alphanumeric, minLength: 36, maxLength: 255)),
        SecretRule(name: "github_token", prefixes: ["github_pat_"],
                   body: .token(alphabet: ByteSet([UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                                                   UInt8(ascii: "0")...UInt8(ascii: "9")], "_"),
                                minLength: 60, maxLength: 255)),
        SecretRule(name: "gitlab_token", prefixes: ["glpat-"],
                   body: .token(alphabet: .urlSafe, minLength: 20, maxLength: 64)),
        SecretRule(name: "slack_token", prefixes: ["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"],
                   body: .token(alphabet: .slack, minLength: 10, maxLength: 255)),
        SecretRule(name: "anthropic_api_key", prefixes: ["sk-ant-"],
                   body: .token(alphabet: .urlSafe, minLength: 20, maxLength: 255)),
        SecretRule(name: "openai_api_key", prefixes: ["sk-proj-", "sk-svcacct-", "sk-admin-"],
                   body: .token(alphabet: .urlSafe, minLength: 20, maxLength: 255)),
        SecretRule(name: "google_api_key", prefixes: ["AIza"],
                   body: .token(alphabet: .urlSafe, minLength: 35, maxLength: 35)),
        SecretRule(name: "private_key", prefixes: ["-----BEGIN "], body: .pemBlock(maxLength: 16 * 1024)),
    ]
}
