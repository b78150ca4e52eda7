import NIOCore

/// A one-line cause for a failed upstream, for the 502 body and the record.
enum UpstreamFailure {
    static func describe(_ error: any Error, target: UpstreamTarget) -> String {
        let text = "\(error)"
        if text.contains("NIOSSL") || text.contains("handshake") || text.contains("certificate") || text.contains("BoringSSL") {
            return "TLS failure with upstream \(target.authority): \(text)"
        }
        if error is ChannelError, case .connectTimeout = error as? ChannelError {
            return "upstream \(target.authority) did not accept a connection in time"
        }
        return "upstream \(target.authority) unreachable: \(text)"
    }
}
