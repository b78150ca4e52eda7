import NIOHTTP1
import Shared

/// Where a request goes, decided from its head alone. Pure: tested without sockets.
struct UpstreamTarget: Hashable, Sendable {
    var host: String
    var port: Int
    var tls: Bool

    var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The gateway's decision for one request head.
enum RequestDecision: Equatable {
    /// `CONNECT host:port`: answer 200 and terminate TLS for `target`.
    case openTunnel(UpstreamTarget)
    /// Relay to `target`, sending `path` (origin-form) as the request target.
    case relay(UpstreamTarget, path: String)
    /// Answer `status` with `reason` as the body and close the connection (RFC 9112 says so for framing errors).
    case reject(HTTPResponseStatus, reason: String)
}

/// Classifies request heads: CONNECT authority parsing, absolute-form and origin-form targets, and the
/// message framing checks of RFC 9112 §6 that stop request smuggling.
struct RequestClassifier {
    /// The tunnel this connection is inside, if any: origin-form requests go there.
    var tunnel: UpstreamTarget?
    var maxHeaderBytes: Int

    func classify(_ head: HTTPRequestHead) -> RequestDecision {
        let headerBytes = head.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        if headerBytes > maxHeaderBytes {
            return .reject(.requestHeaderFieldsTooLarge, reason: "request header section of \(headerBytes) bytes exceeds \(maxHeaderBytes)")
        }
        if let problem = framingProblem(head.headers) {
            return .reject(.badRequest, reason: problem)
        }
        if head.method == .CONNECT {
            guard tunnel == nil else {
                return .reject(.badRequest, reason: "CONNECT inside a tunnel is not supported")
            }
            guard let (host, port) = Self.splitAuthority(head.uri), port > 0 else {
                return .reject(.badRequest, reason: "CONNECT target '\(head.uri)' is not host:port")
            }
            return .openTunnel(UpstreamTarget(host: host, port: port, tls: true))
        }
        if let tunnel {
            guard head.uri.hasPrefix("/") || head.uri == "*" else {
                // Absolute-form inside a tunnel: accept it if it names the tunnel's host (RFC 9112 §3.2.2).
                if case .relay(let target, let path)? = Self.absoluteForm(head.uri), target.host == tunnel.host {
                    return .relay(tunnel, path: path)
                }
                return .reject(.badRequest, reason: "request target '\(head.uri)' does not belong to this tunnel")
            }
            return .relay(tunnel, path: head.uri)
        }
        guard let decision = Self.absoluteForm(head.uri) else {
            return .reject(.badRequest, reason: "a proxy request needs an absolute http:// target or CONNECT")
        }
        return decision
    }

    /// RFC 9112 §6.1 and §6.3: a request with both Transfer-Encoding and Content-Length, with conflicting
    /// Content-Length values, or with a Transfer-Encoding whose final coding is not chunked, is refused.
    private func framingProblem(_ headers: HTTPHeaders) -> String? {
        let lengths = headers[canonicalForm: "content-length"]
        let codings = headers[canonicalForm: "transfer-encoding"]
        if !lengths.isEmpty && !codings.isEmpty {
            return "both Content-Length and Transfer-Encoding (RFC 9112 §6.1)"
        }
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }), UInt64(first) != nil else {
                return "invalid or conflicting Content-Length values (RFC 9112 §6.3)"
            }
        }
        if let last = codings.last, last.lowercased() != "chunked" {
            return "Transfer-Encoding must end with chunked (RFC 9112 §6.3)"
        }
        return nil
    }

    /// `http://host[:port]/path` → relay; anything else → nil.
    static func absoluteForm(_ uri: String) -> RequestDecision? {
        let lower = uri.lowercased()
        let tls: Bool
        let rest: Substring
        if lower.hasPrefix("http://") {
            tls = false
            rest = uri.dropFirst(7)
        } else if lower.hasPrefix("https://") {
            tls = true
            rest = uri.dropFirst(8)
        } else {
            return nil
        }
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<slash]
        var path = String(rest[slash...])
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        let defaultPort = tls ? 443 : 80
        if let (host, port) = splitAuthority(String(authority)) {
            return .relay(UpstreamTarget(host: host, port: port, tls: tls), path: path)
        }
        let host = String(authority)
        guard !host.contains(":"), !host.contains(" ") else { return nil }
        return .relay(UpstreamTarget(host: host.lowercased(), port: defaultPort, tls: tls), path: path)
    }

    /// `host:port` or `[v6]:port`.
    static func splitAuthority(_ authority: String) -> (String, Int)? {
        guard let spec = SocketAddressSpec(parsing: authority), spec.port > 0, !spec.host.contains(" ") else { return nil }
        return (spec.host.lowercased(), spec.port)
    }
}
