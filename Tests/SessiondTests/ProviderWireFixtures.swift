/// More exchanges in the providers' wire formats (hand-written after their documented shapes), for the
/// provider table: streams with tool calls, errors in and out of streams, cuts, and side requests.
enum ProviderWireFixtures {
    // MARK: Anthropic Messages

    static let anthropicRequest = #"{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"hello"}]}"#

    /// A stream the API ends with an `error` event (overloaded) after some text.
    static let anthropicStreamError = #"""
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_e","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":40,"output_tokens":1}}}

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me"}}

        event: error
        data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}


        """#

    /// Extended thinking: thinking and signature deltas before the text; output tokens include the thinking.
    static let anthropicThinkingStream = #"""
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_t","type":"message","role":"assistant","model":"claude-opus-4-5-20251101","content":[],"stop_reason":null,"usage":{"input_tokens":9,"cache_creation_input_tokens":2048,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":2048},"output_tokens":3}}}

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The user greets."}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: content_block_start
        data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello!"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":1}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":57}}

        event: message_stop
        data: {"type":"message_stop"}


        """#

    static let anthropicError400 = #"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_011"}"#

    static let anthropicCountTokens = #"{"input_tokens":2095}"#

    // MARK: OpenAI Chat Completions

    static let chatToolResponse = #"""
        {"id":"chatcmpl-3","object":"chat.completion","created":1731000000,"model":"gpt-4.1-2025-04-14","choices":[{"index":0,
         "message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_x","type":"function",
         "function":{"name":"read_file","arguments":"{\"path\":\"a.txt\"}"}}],"refusal":null},"logprobs":null,
         "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":2000,"completion_tokens":30,"total_tokens":2030,
         "prompt_tokens_details":{"cached_tokens":1536,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}
        """#

    static let chatError429 = #"{"error":{"message":"Rate limit reached for gpt-4.1 on tokens per min (TPM).","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#

    // MARK: OpenAI Responses

    static let responsesStreamRequest = #"{"model":"gpt-5","stream":true,"instructions":"Be terse.","input":[{"role":"user","content":[{"type":"input_text","text":"weather in Paris?"}]}],"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]}"#

    static let responsesStream = #"""
        event: response.created
        data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_s1","object":"response","created_at":1731000000,"status":"in_progress","model":"gpt-5-2025-08-07","output":[],"usage":null}}

        event: response.output_item.added
        data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":2,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}

        event: response.output_item.added
        data: {"type":"response.output_item.added","sequence_number":3,"output_index":1,"item":{"id":"fc_1","type":"function_call","status":"in_progress","arguments":"","call_id":"call_w","name":"get_weather"}}

        event: response.function_call_arguments.delta
        data: {"type":"response.function_call_arguments.delta","sequence_number":4,"item_id":"fc_1","output_index":1,"delta":"{\"city\":"}

        event: response.function_call_arguments.delta
        data: {"type":"response.function_call_arguments.delta","sequence_number":5,"item_id":"fc_1","output_index":1,"delta":"\"Paris\"}"}

        event: response.function_call_arguments.done
        data: {"type":"response.function_call_arguments.done","sequence_number":6,"item_id":"fc_1","output_index":1,"arguments":"{\"city\":\"Paris\"}"}

        event: response.output_item.done
        data: {"type":"response.output_item.done","sequence_number":7,"output_index":1,"item":{"id":"fc_1","type":"function_call","status":"completed","arguments":"{\"city\":\"Paris\"}","call_id":"call_w","name":"get_weather"}}

        event: response.completed
        data: {"type":"response.completed","sequence_number":8,"response":{"id":"resp_s1","object":"response","created_at":1731000000,"status":"completed","model":"gpt-5-2025-08-07","output":[{"id":"rs_1","type":"reasoning","summary":[]},{"id":"fc_1","type":"function_call","status":"completed","arguments":"{\"city\":\"Paris\"}","call_id":"call_w","name":"get_weather"}],"usage":{"input_tokens":320,"input_tokens_details":{"cached_tokens":256},"output_tokens":90,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":410}}}


        """#

    static let responsesError401 = #"{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#

    // MARK: Gemini

    static let geminiToolResponse = #"""
        {"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}],"role":"model"},
         "finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":15,
         "totalTokenCount":135,"cachedContentTokenCount":100},"modelVersion":"gemini-2.5-pro","responseId":"g_1"}
        """#

    /// `:streamGenerateContent` without `alt=sse`: one JSON array of chunks.
    static let geminiArrayStream = #"""
        [{"candidates":[{"content":{"parts":[{"text":"Four"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":1,"totalTokenCount":9},"modelVersion":"gemini-2.0-flash"},
        {"candidates":[{"content":{"parts":[{"text":"."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":2,"totalTokenCount":10},"modelVersion":"gemini-2.0-flash"}]
        """#

    static let geminiError400 = #"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#

    static let geminiCountTokens = #"{"totalTokens":31,"totalBillableCharacters":96}"#
}
