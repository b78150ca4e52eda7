import NIOHTTP1
import Testing

@testable import gateway

@Suite struct RequestClassifierTests {
    static let plain = RequestClassifier(tunnel: nil, maxHeaderBytes: 1024)
    static let tunnel = RequestClassifier(
        tunnel: UpstreamTarget(host: "api.anthropic.com", port: 443, tls: true), maxHeaderBytes: 1024)

    private func head(_ method: HTTPMethod, _ uri: String, _ headers: [(String, String)] = []) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders(headers))
    }

    @Test(arguments: [
        ("api.anthropic.com:443", UpstreamTarget(host: "api.anthropic.com", port: 443, tls: true)),
        ("API.OpenAI.com:8443", UpstreamTarget(host: "api.openai.com", port: 8443, tls: true)),
        ("127.0.0.1:9443", UpstreamTarget(host: "127.0.0.1", port: 9443, tls: true)),
        ("[::1]:443", UpstreamTarget(host: "::1", port: 443, tls: true)),
    ])
    func connectOpensATunnel(authority: String, target: UpstreamTarget) {
        #expect(Self.plain.classify(head(.CONNECT, authority)) == .openTunnel(target))
    }

    @Test(arguments: ["api.anthropic.com", "host:0", "host:70000", ":443", "a b:443", "[::1]443"])
    func aBadConnectTargetIs400(authority: String) {
        guard case .reject(let status, _) = Self.plain.classify(head(.CONNECT, authority)) else {
            Issue.record("accepted \(authority)")
            return
        }
        #expect(status == .badRequest)
    }

    @Test(arguments: [
        ("http://example.com/v1/x?y=1", UpstreamTarget(host: "example.com", port: 80, tls: false), "/v1/x?y=1"),
        ("http://example.com:8080", UpstreamTarget(host: "example.com", port: 8080, tls: false), "/"),
        ("http://Example.com?q", UpstreamTarget(host: "example.com", port: 80, tls: false), "/?q"),
        ("https://api.openai.com/v1/models", UpstreamTarget(host: "api.openai.com", port: 443, tls: true), "/v1/models"),
    ])
    func absoluteFormIsRelayed(uri: String, target: UpstreamTarget, path: String) {
        #expect(Self.plain.classify(head(.GET, uri)) == .relay(target, path: path))
    }

    @Test func originFormOutsideATunnelIs400() {
        guard case .reject(.badRequest, _) = Self.plain.classify(head(.GET, "/v1/messages")) else {
            Issue.record("accepted origin-form on the listener")
            return
        }
    }

    @Test func originFormInsideATunnelGoesToTheTunnelHost() {
        let target = UpstreamTarget(host: "api.anthropic.com", port: 443, tls: true)
        #expect(Self.tunnel.classify(head(.POST, "/v1/messages")) == .relay(target, path: "/v1/messages"))
        #expect(Self.tunnel.classify(head(.POST, "https://api.anthropic.com/v1/messages"))
                == .relay(target, path: "/v1/messages"))
        guard case .reject = Self.tunnel.classify(head(.POST, "http://evil.example/v1")) else {
            Issue.record("relayed a request for another host through the tunnel")
            return
        }
        guard case .reject = Self.tunnel.classify(head(.CONNECT, "other:443")) else {
            Issue.record("CONNECT inside a tunnel")
            return
        }
    }

    /// RFC 9112 §6.1/§6.3: the framing checks that stop request smuggling.
    @Test(arguments: [
        [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
        [("Content-Length", "5"), ("Content-Length", "6")],
        [("Content-Length", "-1")],
        [("Content-Length", "abc")],
        [("Transfer-Encoding", "chunked, gzip")],
        [("Transfer-Encoding", "identity")],
    ])
    func smugglingShapesAre400(headers: [(String, String)]) {
        guard case .reject(.badRequest, let reason) = Self.tunnel.classify(head(.POST, "/v1/messages", headers)) else {
            Issue.record("accepted \(headers)")
            return
        }
        #expect(reason.contains("RFC 9112"))
    }

    @Test func repeatedEqualContentLengthsAreAccepted() {
        let h = head(.POST, "/v1/messages", [("Content-Length", "5"), ("Content-Length", "5")])
        guard case .relay = Self.tunnel.classify(h) else {
            Issue.record("refused equal Content-Length values")
            return
        }
    }

    @Test func anOversizedHeaderSectionIs431() {
        let h = head(.GET, "/", [("x-big", String(repeating: "a", count: 2000))])
        guard case .reject(.requestHeaderFieldsTooLarge, _) = Self.tunnel.classify(h) else {
            Issue.record("accepted an oversized header section")
            return
        }
    }
}
