import Crypto
import Foundation
import NIOCore
import Shared

/// Exchanges as a gateway would emit them, with the bytes each body carried, for tests that check what
/// ingestd stored against what was sent.
struct TestExchange: Sendable {
    let id = UUID()
    var request: [UInt8]
    var response: [UInt8]
    var chunkSize = 16 * 1024
    var ends = true

    static func random(requestBytes: Int, responseBytes: Int) -> TestExchange {
        TestExchange(request: Self.bytes(requestBytes), response: Self.bytes(responseBytes))
    }

    /// Compressible but not trivially so: JSON-like text with random words.
    static func bytes(_ count: Int) -> [UInt8] {
        let words = ["role", "user", "assistant", "content", "text", "tool_use", "input", "model", "stream", "id"]
        var out: [UInt8] = []
        out.reserveCapacity(count + 32)
        var generator = SystemRandomNumberGenerator()
        while out.count < count {
            let word = words.randomElement(using: &generator) ?? "x"
            let number = UInt32.random(in: 0...UInt32.max, using: &generator)
            out += Array("{\"\(word)\":\(number)},".utf8)
        }
        return Array(out.prefix(count))
    }

    /// The frames of this exchange, without sequence numbers (the gateway numbers them as it sends).
    func frames(gatewayID: String) throws -> [CaptureFrame] {
        let start = Int64(1_763_976_000) * 1_000_000_000 + Int64.random(in: 0..<1_000_000_000)
        let begin = ExchangeBegin(
            gatewayID: gatewayID, connectionID: 1, scheme: "https", host: "api.anthropic.com",
            port: 443, method: "POST", path: "/v1/messages", httpVersion: "HTTP/1.1",
            headers: [["content-type", "application/json"], ["x-api-key", "[REDACTED hmac:0123456789ab]"]],
            client: ClientAttribution(address: "127.0.0.1:5000"), startedAt: start)
        var frames = [try CaptureFrame.json(.exchangeBegin, exchangeID: id, timestamp: start, begin)]
        frames += Self.chunks(request, size: chunkSize).map {
            CaptureFrame(
                kind: .requestBody, sequence: 0, exchangeID: id, timestamp: start + 1, payload: ByteBuffer(bytes: $0))
        }
        frames.append(
            try .json(
                .responseHead, exchangeID: id, timestamp: start + 2,
                ResponseHead(
                    status: 200, reason: "OK", httpVersion: "HTTP/1.1",
                    headers: [["content-type", "text/event-stream"]])))
        frames += Self.chunks(response, size: chunkSize).map {
            CaptureFrame(
                kind: .responseBody, sequence: 0, exchangeID: id, timestamp: start + 3, payload: ByteBuffer(bytes: $0))
        }
        if ends {
            frames.append(
                try .json(
                    .exchangeEnd, exchangeID: id, timestamp: start + 4,
                    ExchangeEnd(
                        outcome: .complete, status: 200, endedAt: start + 4, timeToFirstByte: 2,
                        requestBytes: Int64(request.count), responseBytes: Int64(response.count),
                        requestWireSHA256: Self.sha256(request), responseWireSHA256: Self.sha256(response),
                        redactions: [], streamed: true, webSocket: false)))
        }
        return frames
    }

    static func chunks(_ bytes: [UInt8], size: Int) -> [ArraySlice<UInt8>] {
        stride(from: 0, to: bytes.count, by: size).map { bytes[$0..<min($0 + size, bytes.count)] }
    }

    static func sha256(_ bytes: some Sequence<UInt8>) -> String {
        SHA256.hash(data: Array(bytes)).map { String(format: "%02x", $0) }.joined()
    }

    /// Frames of several exchanges interleaved round-robin (as concurrent exchanges interleave on one
    /// connection) and numbered from `firstSequence`.
    static func interleave(
        _ exchanges: [TestExchange], gatewayID: String, firstSequence: UInt64 = 1
    ) throws -> [CaptureFrame] {
        var queues = try exchanges.map { try $0.frames(gatewayID: gatewayID)[...] }
        var out: [CaptureFrame] = []
        var sequence = firstSequence
        while queues.contains(where: { !$0.isEmpty }) {
            for i in queues.indices where !queues[i].isEmpty {
                var frame = queues[i].removeFirst()
                frame.sequence = sequence
                sequence += 1
                out.append(frame)
            }
        }
        return out
    }
}

/// A fresh state directory per test, so tests run in parallel.
func temporaryStateDirectory(_ label: String) throws -> StateDirectory {
    let state = StateDirectory(
        root: FileManager.default.temporaryDirectory.path + "/fl-\(label)-\(UUID().uuidString.prefix(8))")
    try state.prepareCommon()
    return state
}
