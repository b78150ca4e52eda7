import Foundation

/// What the two peers agreed about permessage-deflate (RFC 7692), read from the 101 answer's
/// `Sec-WebSocket-Extensions`: whether messages may be compressed and whether each side resets its
/// window after every message.
struct PermessageDeflate: Equatable {
    var enabled: Bool
    var clientNoContextTakeover: Bool
    var serverNoContextTakeover: Bool

    static let off = PermessageDeflate(enabled: false, clientNoContextTakeover: false, serverNoContextTakeover: false)

    /// Parses the server's accepted extensions (it answers with at most one permessage-deflate offer).
    init(acceptedExtensions headerValues: [String]) {
        self = .off
        for value in headerValues {
            for offer in value.split(separator: ",") {
                let params = offer.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                guard params.first == "permessage-deflate" else { continue }
                enabled = true
                for p in params.dropFirst() {
                    let name = p.split(separator: "=").first.map(String.init) ?? p
                    if name == "client_no_context_takeover" { clientNoContextTakeover = true }
                    if name == "server_no_context_takeover" { serverNoContextTakeover = true }
                }
                return
            }
        }
    }

    init(enabled: Bool, clientNoContextTakeover: Bool, serverNoContextTakeover: Bool) {
        self.enabled = enabled
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverNoContextTakeover = serverNoContextTakeover
    }
}
