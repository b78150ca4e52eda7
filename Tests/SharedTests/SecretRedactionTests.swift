import Crypto
import Foundation
import Testing

@testable import Shared

@Suite struct SecretRedactionTests {
    // Fake secrets in the shapes the rules know (not real credentials).
    static let aws = "AKIAIOSFODNN7EXAMPLE"
    static let github = "ghp_" + String(repeating: "a1B2", count: 9)
    static let gitlab = "glpat-" + String(repeating: "x", count: 20)
    static let slack = "xoxb-1234567890-abcdefghij"
    static let anthropic = "sk-ant-api03-" + String(repeating: "Q", count: 40)
    static let openai = "sk-proj-" + String(repeating: "Z9", count: 20)
    static let google = "AIza" + String(repeating: "S", count: 35)
    static let pem = "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA\\n-----END RSA PRIVATE KEY-----"

    static let cases: [(String, String)] = [
        (aws, "aws_access_key"), (github, "github_token"), (gitlab, "gitlab_token"), (slack, "slack_token"),
        (anthropic, "anthropic_api_key"), (openai, "openai_api_key"), (google, "google_api_key"),
        (pem, "private_key"),
    ]

    /// Redacts `chunks` through both entry points (copying, and the gateway's pass-through one) and expects
    /// them to agree, so every case here covers both.
    private func redact(_ chunks: [String]) -> (String, [String]) {
        var r = StreamingSecretRedactor()
        var out: [UInt8] = []
        for c in chunks { out += r.feed(Array(c.utf8)) }
        out += r.finish()

        var p = StreamingSecretRedactor()
        var passed: [UInt8] = []
        for c in chunks {
            let bytes = Array(c.utf8)
            switch bytes.withUnsafeBytes({ p.feed($0) }) {
            case .chunkPrefix(let n): passed += bytes[..<n]
            case .bytes(let b): passed += b
            }
        }
        passed += p.finish()
        #expect(passed == out, "the pass-through path agrees with the copying one")
        #expect(p.firedRules == r.firedRules)
        return (String(decoding: out, as: UTF8.self), r.firedRules)
    }

    @Test(arguments: cases)
    func aSecretIsReplacedWithItsRuleName(secret: String, rule: String) {
        let text = "{\"prompt\":\"my key is \(secret) ok\"}"
        let (out, fired) = redact([text])
        #expect(out == "{\"prompt\":\"my key is [REDACTED:\(rule)] ok\"}")
        #expect(fired == [rule])
    }

    @Test(arguments: cases)
    func aSecretSplitAtAnyChunkBoundaryIsStillFound(secret: String, rule: String) {
        let text = "data: {\"delta\":\"\(secret)\"}\n\n"
        let expected = "data: {\"delta\":\"[REDACTED:\(rule)]\"}\n\n"
        for cut in 0...text.utf8.count {
            let bytes = Array(text.utf8)
            let first = String(decoding: bytes[..<cut], as: UTF8.self)
            let second = String(decoding: bytes[cut...], as: UTF8.self)
            #expect(redact([first, second]).0 == expected, "cut at \(cut)")
        }
    }

    @Test func byteByByteGivesTheSameResult() {
        let text = "a \(Self.aws) b \(Self.github) c \(Self.pem) d"
        let whole = redact([text]).0
        let single = redact(text.map { String($0) }).0
        #expect(whole == single)
        #expect(!whole.contains("AKIA"))
        #expect(!whole.contains("ghp_"))
        #expect(!whole.contains("MIIE"))
    }

    @Test(arguments: [
        "AKIA is a prefix but AKIASHORT is not a key",
        "xAKIAIOSFODNN7EXAMPLE glued to a word",
        "AKIAIOSFODNN7EXAMPLEEXTRA is too long",
        "plain text with sk- and ghp_short",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
    ])
    func lookalikesPassUnchanged(text: String) {
        let (out, fired) = redact([text])
        #expect(out == text)
        #expect(fired.isEmpty)
    }

    @Test func textFullOfPrefixLetters() {
        // Bytes that start prefixes ('x', 'A', 'g', 's', '-') but never continue one pass through, whole.
        let text = String(repeating: "x", count: 1850) + "AAAA ggg sss --- xoxo AKIB AKI"
        var r = StreamingSecretRedactor()
        let bytes = Array(text.utf8)
        #expect(bytes.withUnsafeBytes { r.feed($0) } == .chunkPrefix(bytes.count - "AKI".count), "only a prefix cut by the chunk's end waits")
        #expect(redact([text]).0 == text)
    }

    @Test func heldBytesAreBoundedByTheLongestRule() {
        var r = StreamingSecretRedactor()
        var emitted = 0
        let chunk = Array(("ghp_" + String(repeating: "a", count: 200)).utf8)
        emitted += r.feed(chunk).count
        emitted += r.finish().count
        #expect(emitted > 0)
    }

    @Test func credentialHeadersAreHMACedNotStored() {
        let redactor = CredentialRedactor(key: SymmetricKey(data: Data(repeating: 7, count: 32)))
        let headers = redactor.redact(headers: [("x-api-key", "sk-ant-secret"), ("Content-Type", "application/json"),
                                                ("Authorization", "Bearer abc"), ("cookie", "a=b")])
        #expect(headers[1] == ["Content-Type", "application/json"])
        for i in [0, 2, 3] {
            #expect(headers[i][1].hasPrefix("[REDACTED hmac:"))
            #expect(headers[i][1].count == "[REDACTED hmac:]".count + 12)
        }
        #expect(!headers[0][1].contains("secret"))
        // The same key is recognisable across captures; another key is not.
        #expect(redactor.redact("sk-ant-secret") == headers[0][1])
        #expect(redactor.redact("sk-ant-other") != headers[0][1])
    }
}
