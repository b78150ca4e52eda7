import Foundation
import Shared

@testable import sessiond

/// A state directory of the test's own, with bodies stored as ingestd stores them (zstd objects named by
/// their digest), and capture records pointing at them.
struct TestHome: Sendable {
    let state: StateDirectory

    init() throws {
        state = StateDirectory(root: TestDirectory.make("home"))
        try state.prepareCommon()
    }

    /// Stores `text` as an object and returns its reference.
    func put(_ kind: ObjectKind, _ text: String) throws -> BodyReference {
        let bytes = Array(text.utf8)
        let digest = SessionTracker.hash(text)
        var compressor = try CompressionFormat.zstd.makeCompressor()
        var compressed: [UInt8] = []
        try bytes.withUnsafeBytes { try compressor.compress($0, into: &compressed) }
        try compressor.finish(into: &compressed)
        let layout = ObjectStoreLayout(state: state)
        try FileManager.default.createDirectory(atPath: layout.directory(kind: kind, sha256: digest),
                                                withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: layout.path(kind: kind, sha256: digest), contents: Data(compressed))
        return BodyReference(kind: kind, sha256: digest, size: Int64(bytes.count), fullSize: Int64(bytes.count),
                             fullSHA256: digest, compression: "zstd")
    }

    /// A finished exchange as ingestd would deliver it.
    func record(id: UUID = UUID(), host: String = "api.anthropic.com", path: String = "/v1/messages",
                request: String, response: String, contentType: String = "application/json", status: Int = 200,
                headers: [[String]] = [], startedAt: Int64 = 1_790_000_000_000_000_000,
                outcome: ExchangeOutcome = .complete) throws -> CaptureRecord {
        let begin = ExchangeBegin(gatewayID: "test", connectionID: 1, scheme: "https", host: host, port: 443, method: "POST",
                                  path: path, httpVersion: "HTTP/1.1",
                                  headers: [["content-type", "application/json"]] + headers,
                                  client: ClientAttribution(address: "127.0.0.1", userAgent: "claude-cli/2.0.0"),
                                  startedAt: startedAt)
        let head = ResponseHead(status: status, reason: "OK", httpVersion: "HTTP/1.1", headers: [["content-type", contentType]])
        let end = ExchangeEnd(outcome: outcome, status: status, endedAt: startedAt + 900_000_000,
                              timeToFirstByte: 300_000_000, requestBytes: Int64(request.utf8.count),
                              responseBytes: Int64(response.utf8.count), requestWireSHA256: "", responseWireSHA256: "",
                              redactions: [], streamed: contentType == "text/event-stream", webSocket: false)
        return CaptureRecord(captureID: id, begin: begin, response: head, end: end,
                             requestBody: try put(.request, request), responseBody: try put(.response, response),
                             metadataPath: "captures/test_\(id.uuidString.lowercased()).json")
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: state.root)
    }
}

/// An Anthropic Messages exchange of a conversation `prompt`, with a tool call and its usage.
enum AnthropicExchange {
    static func request(prompt: String, session: String? = nil) -> String {
        let metadata = session.map { #","metadata":{"user_id":"{\"session_id\":\"\#($0)\"}"}"# } ?? ""
        return #"{"model":"claude-sonnet-4-5","max_tokens":512,"system":"You are a test."\#(metadata),"messages":[{"role":"user","content":"\#(prompt)"}]}"#
    }

    static func response(id: String, input: Int = 10, output: Int = 5) -> String {
        #"{"id":"\#(id)","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"tool_use","id":"toolu_\#(id)","name":"Bash","input":{"command":"ls"}}],"stop_reason":"tool_use","usage":{"input_tokens":\#(input),"output_tokens":\#(output),"cache_read_input_tokens":100}}"#
    }
}
