import Foundation
import Shared

@testable import sessiond

/// Provider payloads in the providers' real wire formats, written by hand for the tests.
enum Fixtures {
    static func input(host: String, path: String, request: String, response: String, sse: Bool = false, status: Int = 200,
                      headers: [String: String] = [:], incomplete: Bool = false) -> ExchangeInput {
        ExchangeInput(host: host, path: path, method: "POST", requestHeaders: headers,
                      responseHeaders: ["content-type": sse ? "text/event-stream" : "application/json"], status: status,
                      request: Array(request.utf8), response: Array(response.utf8), webSocketMessages: [], incomplete: incomplete)
    }

    // MARK: Anthropic

    static let anthropicToolRequest = #"""
        {"model":"claude-sonnet-4-5","max_tokens":1024,"system":[{"type":"text","text":"You are Claude Code."}],
         "metadata":{"user_id":"{\"device_id\":\"d1\",\"session_id\":\"5f0c0e4e-1111-2222-3333-444455556666\"}"},
         "tools":[{"name":"Bash","input_schema":{"type":"object"}}],
         "messages":[{"role":"user","content":[{"type":"text","text":"<system-reminder>ctx</system-reminder>list the files"}]}]}
        """#
    static let anthropicToolResponse = #"""
        {"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
         "content":[{"type":"text","text":"I'll list them."},{"type":"tool_use","id":"toolu_01","name":"Bash","input":{"command":"ls"}}],
         "stop_reason":"tool_use","usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":2000,
         "cache_creation":{"ephemeral_5m_input_tokens":60,"ephemeral_1h_input_tokens":40},"output_tokens":30}}
        """#
    static let anthropicStream = """
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_02","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":15,"cache_creation_input_tokens":0,"cache_read_input_tokens":500,"output_tokens":1}}}

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

        event: ping
        data: {"type": "ping"}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Running"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: content_block_start
        data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_02","name":"Bash","input":{}}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"comm"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"and\\": \\"pwd\\"}"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":1}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}}

        event: message_stop
        data: {"type":"message_stop"}


        """

    // MARK: OpenAI

    static let chatRequest = #"""
        {"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},
         "messages":[{"role":"system","content":"be brief"},{"role":"user","content":"weather in Paris?"}],
         "tools":[{"type":"function","function":{"name":"get_weather","parameters":{}}}]}
        """#
    static let chatStream = """
        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}

        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\":"}}]},"finish_reason":null}]}

        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]},"finish_reason":null}]}

        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

        data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":0}}}

        data: [DONE]


        """
    static let chatResponse = #"""
        {"id":"chatcmpl-2","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,
         "message":{"role":"assistant","content":"Sunny."},"finish_reason":"stop"}],
         "usage":{"prompt_tokens":50,"completion_tokens":5,"total_tokens":55,"prompt_tokens_details":{"cached_tokens":0},
         "completion_tokens_details":{"reasoning_tokens":0}}}
        """#
    static let responsesRequest = #"""
        {"model":"gpt-5","instructions":"You are Codex.","previous_response_id":"resp_prev",
         "input":[{"type":"function_call_output","call_id":"call_9","output":"total 0"}],"stream":false}
        """#
    static let responsesResponse = #"""
        {"id":"resp_2","object":"response","status":"completed","model":"gpt-5-2025-08-07",
         "output":[{"type":"reasoning","id":"rs_1","summary":[]},{"type":"custom_tool_call","call_id":"call_10","name":"shell","input":"ls -la"}],
         "usage":{"input_tokens":1000,"input_tokens_details":{"cached_tokens":800},"output_tokens":300,"output_tokens_details":{"reasoning_tokens":256},"total_tokens":1300}}
        """#

    // MARK: Gemini

    static let geminiRequest = #"""
        {"systemInstruction":{"parts":[{"text":"be helpful"}]},"contents":[{"role":"user","parts":[{"text":"what is 2+2"}]}]}
        """#
    static let geminiStream = """
        data: {"candidates": [{"content": {"parts": [{"text": "4"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 30,"candidatesTokenCount": 1,"totalTokenCount": 31},"modelVersion": "gemini-2.5-flash","responseId": "r1"}

        data: {"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 30,"candidatesTokenCount": 2,"cachedContentTokenCount": 10,"thoughtsTokenCount": 5,"totalTokenCount": 37},"modelVersion": "gemini-2.5-flash","responseId": "r1"}


        """
}
