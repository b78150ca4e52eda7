import Foundation
import Testing

@testable import sessiond

/// Every provider and endpoint, stream and not, through the router: what a turn row will say.
@Suite struct ProviderTableTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var host: String
        var path: String
        var request: String
        var response: String
        var sse = false
        var status = 200
        var incomplete = false
        var headers: [String: String] = [:]
        // What must come out.
        var provider: String
        var endpoint: String
        var model: String?
        var modelTurn = true
        var usage = TokenUsage()
        var stop: String?
        /// `call id|name|arguments`
        var tools: [String] = []
        /// A substring of the parse errors; nil when there must be none.
        var error: String?

        var testDescription: String { name }
    }

    typealias F = Fixtures
    typealias W = ProviderWireFixtures

    static let cases: [Case] = [
        // Anthropic Messages
        Case(name: "anthropic json tool use", host: "api.anthropic.com", path: "/v1/messages", request: F.anthropicToolRequest,
             response: F.anthropicToolResponse, provider: "anthropic", endpoint: "messages", model: "claude-sonnet-4-5-20250929",
             usage: TokenUsage(input: 12, output: 30, cacheRead: 2000, cacheWrite5m: 60, cacheWrite1h: 40), stop: "tool_use",
             tools: [#"toolu_01|Bash|{"command":"ls"}"#]),
        Case(name: "anthropic sse tool use", host: "api.anthropic.com", path: "/v1/messages?beta=true",
             request: F.anthropicToolRequest, response: F.anthropicStream, sse: true, provider: "anthropic", endpoint: "messages",
             model: "claude-sonnet-4-5-20250929", usage: TokenUsage(input: 15, output: 42, cacheRead: 500), stop: "tool_use",
             tools: [#"toolu_02|Bash|{"command": "pwd"}"#]),
        Case(name: "anthropic sse with CRLF line ends", host: "api.anthropic.com", path: "/v1/messages",
             request: F.anthropicToolRequest, response: F.anthropicStream.replacingOccurrences(of: "\n", with: "\r\n"), sse: true,
             provider: "anthropic", endpoint: "messages", model: "claude-sonnet-4-5-20250929",
             usage: TokenUsage(input: 15, output: 42, cacheRead: 500), stop: "tool_use", tools: [#"toolu_02|Bash|{"command": "pwd"}"#]),
        Case(name: "anthropic thinking, 1h cache write", host: "api.anthropic.com", path: "/v1/messages", request: W.anthropicRequest,
             response: W.anthropicThinkingStream, sse: true, provider: "anthropic", endpoint: "messages",
             model: "claude-opus-4-5-20251101", usage: TokenUsage(input: 9, output: 57, cacheWrite1h: 2048), stop: "end_turn"),
        Case(name: "anthropic error event mid-stream", host: "api.anthropic.com", path: "/v1/messages", request: W.anthropicRequest,
             response: W.anthropicStreamError, sse: true, provider: "anthropic", endpoint: "messages",
             model: "claude-sonnet-4-5-20250929", usage: TokenUsage(input: 40, output: 1), error: "Overloaded"),
        Case(name: "anthropic 400", host: "api.anthropic.com", path: "/v1/messages", request: W.anthropicRequest,
             response: W.anthropicError400, status: 400, provider: "anthropic", endpoint: "messages", model: "claude-sonnet-4-5",
             error: "upstream error 400: max_tokens: Field required"),
        Case(name: "anthropic response not JSON", host: "api.anthropic.com", path: "/v1/messages", request: W.anthropicRequest,
             response: "<html>502 Bad Gateway</html>", status: 502, provider: "anthropic", endpoint: "messages",
             model: "claude-sonnet-4-5", error: "response is not valid JSON"),
        Case(name: "anthropic stream cut", host: "api.anthropic.com", path: "/v1/messages", request: F.anthropicToolRequest,
             response: cut(F.anthropicStream, before: 2, of: "input_json_delta"), sse: true, incomplete: true, provider: "anthropic",
             endpoint: "messages", model: "claude-sonnet-4-5-20250929", usage: TokenUsage(input: 15, output: 1, cacheRead: 500),
             tools: [#"toolu_02|Bash|{"comm"#], error: "truncated"),
        Case(name: "anthropic count_tokens is a side request", host: "api.anthropic.com", path: "/v1/messages/count_tokens",
             request: W.anthropicRequest, response: W.anthropicCountTokens, provider: "anthropic", endpoint: "count_tokens",
             model: "claude-sonnet-4-5", modelTurn: false),
        Case(name: "claude code telemetry is a side request", host: "api.anthropic.com", path: "/api/claude_code/metrics",
             request: "{}", response: "{}", provider: "anthropic", endpoint: "claude_code/metrics", modelTurn: false),

        // OpenAI Chat Completions
        Case(name: "chat sse tool call", host: "api.openai.com", path: "/v1/chat/completions", request: F.chatRequest,
             response: F.chatStream, sse: true, provider: "openai", endpoint: "chat.completions", model: "gpt-4o-2024-08-06",
             usage: TokenUsage(input: 36, output: 20, cacheRead: 64), stop: "tool_calls",
             tools: [#"call_1|get_weather|{"city":"Paris"}"#]),
        Case(name: "chat json tool call", host: "api.openai.com", path: "/v1/chat/completions", request: F.chatRequest,
             response: W.chatToolResponse, provider: "openai", endpoint: "chat.completions", model: "gpt-4.1-2025-04-14",
             usage: TokenUsage(input: 464, output: 30, cacheRead: 1536), stop: "tool_calls",
             tools: [#"call_x|read_file|{"path":"a.txt"}"#]),
        Case(name: "chat 429", host: "api.openai.com", path: "/v1/chat/completions", request: F.chatRequest,
             response: W.chatError429, status: 429, provider: "openai", endpoint: "chat.completions", model: "gpt-4o",
             error: "upstream error 429: Rate limit reached"),
        Case(name: "chat stream cut before [DONE]", host: "api.openai.com", path: "/v1/chat/completions", request: F.chatRequest,
             response: String(F.chatStream.prefix(700)), sse: true, incomplete: true, provider: "openai",
             endpoint: "chat.completions", model: "gpt-4o-2024-08-06", tools: [#"call_1|get_weather|{"city":"#],
             error: "truncated"),

        // OpenAI Responses (and Codex)
        Case(name: "responses sse function call", host: "api.openai.com", path: "/v1/responses", request: W.responsesStreamRequest,
             response: W.responsesStream, sse: true, provider: "openai", endpoint: "responses", model: "gpt-5-2025-08-07",
             usage: TokenUsage(input: 64, output: 90, cacheRead: 256, reasoning: 64), stop: "completed",
             tools: [#"call_w|get_weather|{"city":"Paris"}"#]),
        Case(name: "codex responses sse", host: "chatgpt.com", path: "/backend-api/codex/responses",
             request: W.responsesStreamRequest, response: W.responsesStream, sse: true,
             headers: ["session-id": "0199a0c4-codex-session"], provider: "openai", endpoint: "responses",
             model: "gpt-5-2025-08-07", usage: TokenUsage(input: 64, output: 90, cacheRead: 256, reasoning: 64),
             stop: "completed", tools: [#"call_w|get_weather|{"city":"Paris"}"#]),
        Case(name: "responses stream cut mid-arguments", host: "api.openai.com", path: "/v1/responses",
             request: W.responsesStreamRequest, response: cut(W.responsesStream, before: 2, of: "event: response.function_call_arguments.delta"),
             sse: true, incomplete: true, provider: "openai",
             endpoint: "responses", model: "gpt-5-2025-08-07", tools: [#"call_w|get_weather|{"city":"#],
             error: "truncated before response.completed"),
        Case(name: "responses json custom tool call", host: "api.openai.com", path: "/v1/responses", request: F.responsesRequest,
             response: F.responsesResponse, provider: "openai", endpoint: "responses", model: "gpt-5-2025-08-07",
             usage: TokenUsage(input: 200, output: 300, cacheRead: 800, reasoning: 256), stop: "completed",
             tools: ["call_10|shell|ls -la"]),
        Case(name: "responses 401", host: "api.openai.com", path: "/v1/responses", request: W.responsesStreamRequest,
             response: W.responsesError401, status: 401, provider: "openai", endpoint: "responses", model: "gpt-5",
             error: "upstream error 401: Incorrect API key"),

        // Gemini
        Case(name: "gemini sse", host: "generativelanguage.googleapis.com",
             path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", request: F.geminiRequest,
             response: F.geminiStream, sse: true, provider: "gemini", endpoint: "streamGenerateContent", model: "gemini-2.5-flash",
             usage: TokenUsage(input: 20, output: 7, cacheRead: 10, reasoning: 5), stop: "STOP"),
        Case(name: "gemini json function call", host: "generativelanguage.googleapis.com",
             path: "/v1beta/models/gemini-2.5-pro:generateContent", request: F.geminiRequest, response: W.geminiToolResponse,
             provider: "gemini", endpoint: "generateContent", model: "gemini-2.5-pro",
             usage: TokenUsage(input: 20, output: 15, cacheRead: 100), stop: "STOP", tools: [#"call_0|get_weather|{"city":"Paris"}"#]),
        Case(name: "gemini stream as a JSON array", host: "generativelanguage.googleapis.com",
             path: "/v1beta/models/gemini-2.0-flash:streamGenerateContent", request: F.geminiRequest, response: W.geminiArrayStream,
             provider: "gemini", endpoint: "streamGenerateContent", model: "gemini-2.0-flash", usage: TokenUsage(input: 8, output: 2),
             stop: "STOP"),
        Case(name: "gemini 400", host: "generativelanguage.googleapis.com", path: "/v1beta/models/gemini-2.5-pro:generateContent",
             request: F.geminiRequest, response: W.geminiError400, status: 400, provider: "gemini", endpoint: "generateContent",
             model: "gemini-2.5-pro", error: "upstream error 400: API key not valid"),
        Case(name: "gemini countTokens is a side request", host: "generativelanguage.googleapis.com",
             path: "/v1beta/models/gemini-2.5-pro:countTokens", request: F.geminiRequest, response: W.geminiCountTokens,
             provider: "gemini", endpoint: "countTokens", model: "gemini-2.5-pro", modelTurn: false),

        // Anything else
        Case(name: "unknown host", host: "llm.internal.example", path: "/v1/messages", request: W.anthropicRequest,
             response: F.anthropicToolResponse, provider: "unknown", endpoint: "/v1/messages", modelTurn: false),
        Case(name: "a look-alike host is not the provider", host: "notanthropic.com", path: "/v1/messages",
             request: W.anthropicRequest, response: F.anthropicToolResponse, provider: "unknown", endpoint: "/v1/messages",
             modelTurn: false),
        Case(name: "stream without a content type is recognised", host: "api.anthropic.com", path: "/v1/messages",
             request: F.anthropicToolRequest, response: F.anthropicStream, provider: "anthropic", endpoint: "messages",
             model: "claude-sonnet-4-5-20250929", usage: TokenUsage(input: 15, output: 42, cacheRead: 500), stop: "tool_use",
             tools: [#"toolu_02|Bash|{"command": "pwd"}"#]),
    ]

    /// `text` up to the start of the line holding the `n`th occurrence of `marker`.
    static func cut(_ text: String, before n: Int, of marker: String) -> String {
        var from = text.startIndex
        var found = text.startIndex
        for _ in 0..<n {
            guard let r = text.range(of: marker, range: from..<text.endIndex) else { return text }
            found = r.lowerBound
            from = r.upperBound
        }
        let lineStart = text[..<found].lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
        return String(text[..<lineStart])
    }

    @Test(arguments: cases)
    func theTurnSaysWhatHappened(_ c: Case) throws {
        var input = Fixtures.input(host: c.host, path: c.path, request: c.request, response: c.response, sse: c.sse,
                                   status: c.status, headers: c.headers, incomplete: c.incomplete)
        if c.name.contains("without a content type") { input.responseHeaders = [:] }
        let turns = ProviderRouter.parse(input)
        let p = try #require(turns.first)
        #expect(turns.count == 1)
        #expect(p.provider == c.provider)
        #expect(p.endpoint == c.endpoint)
        #expect(p.model == c.model)
        #expect(p.isModelTurn == c.modelTurn)
        #expect(p.usage == c.usage)
        #expect(p.stopReason == c.stop)
        #expect(p.toolCalls.map { "\($0.callID)|\($0.name)|\($0.arguments)" } == c.tools)
        if let error = c.error {
            #expect(p.parseErrors.contains { $0.contains(error) }, "\(p.parseErrors)")
        } else {
            #expect(p.parseErrors.isEmpty, "\(p.parseErrors)")
        }
        // The provider's own usage object is kept beside the normalised columns whenever it sent one.
        if c.usage != TokenUsage() { #expect(p.usageJSON != nil) }
    }

    @Test func codexSessionHeadersAreTheClientsID() throws {
        for header in ["session-id", "thread-id", "x-session-id"] {
            let p = try #require(ProviderRouter.parse(Fixtures.input(
                host: "chatgpt.com", path: "/backend-api/codex/responses", request: W.responsesStreamRequest,
                response: W.responsesStream, sse: true, headers: [header: "abc-123"])).first)
            #expect(p.clientSessionID == "abc-123", "\(header)")
        }
    }

    @Test func claudeCodeHeaderWinsOverMetadata() throws {
        let p = try #require(ProviderRouter.parse(Fixtures.input(
            host: "api.anthropic.com", path: "/v1/messages", request: F.anthropicToolRequest, response: F.anthropicToolResponse,
            headers: ["x-claude-code-session-id": "from-header"])).first)
        #expect(p.clientSessionID == "from-header")
    }

    @Test func toolResultsOfTheLatestMessageAreLinkedToTheirCalls() throws {
        let request = #"""
            {"model":"claude-sonnet-4-5","max_tokens":100,"messages":[
             {"role":"user","content":"list files"},
             {"role":"assistant","content":[{"type":"tool_use","id":"toolu_a","name":"Bash","input":{"command":"ls"}}]},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_a","content":"a.txt"}]},
             {"role":"assistant","content":[{"type":"tool_use","id":"toolu_b","name":"Bash","input":{"command":"cat b"}}]},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_b","is_error":true,
               "content":[{"type":"text","text":"cat: b: No such file"}]}]}]}
            """#
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "api.anthropic.com", path: "/v1/messages",
                                                                 request: request, response: F.anthropicToolResponse)).first)
        // Only this request's new results: earlier ones were recorded with the turn that carried them.
        #expect(p.toolResults == [ToolResult(callID: "toolu_b", isError: true, content: "cat: b: No such file")])
        #expect(p.firstUserPrompt == "list files")
    }
}
