import Foundation
import Testing

@testable import sessiond

@Suite struct ProviderParserTests {
    @Test func anthropicToolUseNonStreaming() throws {
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "api.anthropic.com", path: "/v1/messages",
            request: Fixtures.anthropicToolRequest, response: Fixtures.anthropicToolResponse)).first)
        #expect(p.provider == "anthropic")
        #expect(p.endpoint == "messages")
        #expect(p.isModelTurn)
        #expect(p.model == "claude-sonnet-4-5-20250929")
        #expect(p.usage == TokenUsage(input: 12, output: 30, cacheRead: 2000, cacheWrite5m: 60, cacheWrite1h: 40))
        #expect(p.stopReason == "tool_use")
        #expect(p.toolCalls == [ToolCall(callID: "toolu_01", name: "Bash", arguments: #"{"command":"ls"}"#, kind: "tool_use")])
        #expect(p.clientSessionID == "5f0c0e4e-1111-2222-3333-444455556666")
        #expect(p.firstUserPrompt == "list the files")
        #expect(p.systemPrompt == "You are Claude Code.")
        #expect(p.parseErrors.isEmpty)
    }

    @Test func anthropicStreamAssemblesToolArguments() throws {
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "api.anthropic.com", path: "/v1/messages?beta=true",
            request: Fixtures.anthropicToolRequest, response: Fixtures.anthropicStream, sse: true)).first)
        #expect(p.streamed)
        #expect(p.usage.input == 15)
        #expect(p.usage.cacheRead == 500)
        #expect(p.usage.output == 42)
        #expect(p.toolCalls == [ToolCall(callID: "toolu_02", name: "Bash", arguments: #"{"command": "pwd"}"#, kind: "tool_use")])
        #expect(p.stopReason == "tool_use")
        #expect(p.parseErrors.isEmpty)
    }

    @Test(arguments: [200, 400, 700, 1200])
    func aTruncatedStreamKeepsWhatWasReadAndSaysSo(cut: Int) throws {
        let truncated = String(Fixtures.anthropicStream.utf8.prefix(cut))!
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "api.anthropic.com", path: "/v1/messages",
            request: Fixtures.anthropicToolRequest, response: truncated, sse: true, incomplete: true)).first)
        #expect(p.isModelTurn)
        #expect(p.parseErrors.contains { $0.contains("truncated") })
    }

    @Test func anthropicErrorReplyIsATurnWithTheErrorNoted() throws {
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "api.anthropic.com", path: "/v1/messages",
            request: Fixtures.anthropicToolRequest,
            response: #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#, status: 529)).first)
        #expect(p.parseErrors.contains { $0.contains("529") && $0.contains("Overloaded") })
    }

    @Test(arguments: ["not json", "{\"truncated\": ", ""])
    func invalidJSONIsNotedNeverFatal(response: String) throws {
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "api.anthropic.com", path: "/v1/messages",
            request: "{bad", response: response)).first)
        #expect(p.isModelTurn)
        #expect(p.parseErrors.contains("request is not valid JSON"))
    }

    @Test(arguments: [("/v1/messages/count_tokens", "count_tokens"), ("/api/claude_code/settings", "claude_code/settings")])
    func sideRequestsAreNotModelTurns(path: String, endpoint: String) throws {
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "api.anthropic.com", path: path, request: "{}",
                                                                 response: "{}")).first)
        #expect(p.endpoint == endpoint)
        #expect(!p.isModelTurn)
    }

    @Test func olderClaudeCodeUserIDsCarryTheSession() {
        #expect(AnthropicParser.sessionID(fromUserID: "user_abc_account_11111111-2222-3333-4444-555555555555_session_9f2d0c4e-aaaa-bbbb-cccc-ddddeeeeffff")
                == "9f2d0c4e-aaaa-bbbb-cccc-ddddeeeeffff")
        #expect(AnthropicParser.sessionID(fromUserID: "plain-user") == nil)
    }

    @Test func openAIChatStreamNormalisesCachedInput() throws {
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "api.openai.com", path: "/v1/chat/completions",
            request: Fixtures.chatRequest, response: Fixtures.chatStream, sse: true)).first)
        #expect(p.endpoint == "chat.completions")
        #expect(p.model == "gpt-4o-2024-08-06")
        #expect(p.usage == TokenUsage(input: 36, output: 20, cacheRead: 64))
        #expect(p.toolCalls == [ToolCall(callID: "call_1", name: "get_weather", arguments: #"{"city":"Paris"}"#, kind: "function")])
        #expect(p.stopReason == "tool_calls")
        #expect(p.systemPrompt == "be brief")
        #expect(p.parseErrors.isEmpty)
    }

    @Test func openAIChatNonStreaming() throws {
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "api.openai.com", path: "/v1/chat/completions",
            request: Fixtures.chatRequest, response: Fixtures.chatResponse)).first)
        #expect(p.usage == TokenUsage(input: 50, output: 5))
        #expect(p.stopReason == "stop")
    }

    @Test(arguments: ["api.openai.com", "chatgpt.com"])
    func responsesWithCustomToolCallsAndChaining(host: String) throws {
        let path = host == "chatgpt.com" ? "/backend-api/codex/responses" : "/v1/responses"
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: host, path: path, request: Fixtures.responsesRequest,
                                                                 response: Fixtures.responsesResponse)).first)
        #expect(p.endpoint == "responses")
        #expect(p.previousResponseID == "resp_prev")
        #expect(p.responseID == "resp_2")
        #expect(p.usage == TokenUsage(input: 200, output: 300, cacheRead: 800, reasoning: 256))
        #expect(p.toolCalls == [ToolCall(callID: "call_10", name: "shell", arguments: "ls -la", kind: "custom_tool_call")])
        #expect(p.toolResults == [ToolResult(callID: "call_9", isError: false, content: "total 0")])
    }

    @Test func responsesOverWebSocketMakeOneTurnPerCreate() throws {
        func message(_ d: WebSocketDirectionAlias, _ json: String) -> (Shared.WebSocketDirection, [UInt8]) { (d, Array(json.utf8)) }
        var input = Fixtures.input(host: "chatgpt.com", path: "/backend-api/codex/responses", request: "", response: "", status: 101)
        input.webSocketMessages = [
            message(.clientToUpstream, #"{"type":"response.create","model":"gpt-5-codex","generate":false,"input":[]}"#),
            message(.upstreamToClient, #"{"type":"response.completed","response":{"id":"resp_w0","model":"gpt-5-codex","output":[],"usage":{"input_tokens":0,"output_tokens":0}}}"#),
            message(.clientToUpstream, #"{"type":"response.create","model":"gpt-5-codex","previous_response_id":"resp_w0","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"fix the bug"}]}]}"#),
            message(.upstreamToClient, #"{"type":"response.created","response":{"id":"resp_w1"}}"#),
            message(.upstreamToClient, #"{"type":"response.completed","response":{"id":"resp_w1","model":"gpt-5-codex","output":[{"type":"custom_tool_call","call_id":"c1","name":"shell","input":"ls"}],"usage":{"input_tokens":500,"input_tokens_details":{"cached_tokens":100},"output_tokens":40}}}"#),
            message(.clientToUpstream, #"{"type":"response.create","model":"gpt-5-codex","previous_response_id":"resp_w1","input":[{"type":"custom_tool_call_output","call_id":"c1","output":"a.txt"}]}"#),
        ]
        let turns = ProviderRouter.parse(input)
        #expect(turns.count == 3)
        #expect(turns[0].isPrewarm && !turns[0].isModelTurn)
        #expect(turns[1].isModelTurn && turns[1].usage == TokenUsage(input: 400, output: 40, cacheRead: 100))
        #expect(turns[1].toolCalls.first?.kind == "custom_tool_call")
        #expect(turns[2].toolResults == [ToolResult(callID: "c1", isError: false, content: "a.txt")])
        #expect(turns[2].parseErrors.contains { $0.contains("socket ended") })
    }

    @Test func geminiStreamCountsThoughtsAsOutputAndSubtractsCache() throws {
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "generativelanguage.googleapis.com",
            path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", request: Fixtures.geminiRequest,
            response: Fixtures.geminiStream, sse: true)).first)
        #expect(p.provider == "gemini")
        #expect(p.endpoint == "streamGenerateContent")
        #expect(p.model == "gemini-2.5-flash")
        #expect(p.usage == TokenUsage(input: 20, output: 7, cacheRead: 10, reasoning: 5))
        #expect(p.stopReason == "STOP")
        #expect(p.firstUserPrompt == "what is 2+2")
    }

    @Test func anUnknownHostIsProviderUnknown() throws {
        let p = try #require(ProviderRouter.parse(Fixtures.input(host: "example.com", path: "/x?y", request: "", response: "")).first)
        #expect(p.provider == "unknown")
        #expect(p.endpoint == "/x")
        #expect(!p.isModelTurn)
    }

    @Test func sseSplitterHandlesEveryLineEndingAndSplit() {
        let stream = "event: a\r\ndata: one\r\ndata: two\r\n\r\n: comment\n\ndata: three\r\rdata:four\n\n"
        var whole = SSEEventSplitter()
        let expected = whole.feed(Array(stream.utf8))
        #expect(expected == [.init(event: "a", data: "one\ntwo", id: nil), .init(event: nil, data: "three", id: nil),
                             .init(event: nil, data: "four", id: nil)])
        for cut in 0...stream.utf8.count {
            var s = SSEEventSplitter()
            let bytes = Array(stream.utf8)
            #expect(s.feed(bytes[..<cut]) + s.feed(bytes[cut...]) == expected, "cut at \(cut)")
        }
    }
}

typealias WebSocketDirectionAlias = Shared.WebSocketDirection
import Shared
