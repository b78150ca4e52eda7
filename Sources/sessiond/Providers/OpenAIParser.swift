import Foundation

/// OpenAI Chat Completions and Responses (`api.openai.com`, and Codex's `chatgpt.com/backend-api/codex`),
/// JSON, SSE and Responses over WebSocket.
struct OpenAIParser: ProviderParser {
    func accepts(_ input: ExchangeInput) -> Bool {
        input.hostIs("openai.com") || input.hostIs("chatgpt.com")
    }

    func parse(_ input: ExchangeInput) -> [ParsedExchange] {
        var p = ParsedExchange()
        p.provider = "openai"
        p.clientSessionID = input.requestHeaders["session-id"] ?? input.requestHeaders["thread-id"]
            ?? input.requestHeaders["x-session-id"]
        let route = input.route
        if route.hasSuffix("/chat/completions") {
            p.endpoint = "chat.completions"
            p.isModelTurn = true
            parseChat(input, into: &p)
        } else if route.hasSuffix("/responses") {
            p.endpoint = "responses"
            p.isModelTurn = true
            if !input.webSocketMessages.isEmpty { return parseWebSocket(input, base: p) }
            parseResponses(input, into: &p)
        } else {
            p.endpoint = route
        }
        if let status = input.status, status >= 400, status != 101 {
            let error = JSON.object(input.response)?["error"] as? [String: Any]
            p.parseErrors.append("upstream error \(status): \(JSON.string(error?["message"]) ?? "")")
        }
        return [p]
    }

    // MARK: Chat Completions

    private func parseChat(_ input: ExchangeInput, into p: inout ParsedExchange) {
        if let r = JSON.object(input.request) {
            p.model = JSON.string(r["model"])
            let messages = (r["messages"] as? [[String: Any]]) ?? []
            for m in messages {
                let role = JSON.string(m["role"]) ?? "?"
                let text = JSON.contentText(m["content"])
                if role == "system" || role == "developer", p.systemPrompt == nil { p.systemPrompt = text }
                if role == "user", p.firstUserPrompt == nil, !Conversation.stripInjected(text).isEmpty {
                    p.firstUserPrompt = Conversation.stripInjected(text)
                }
                let calls = ((m["tool_calls"] as? [[String: Any]]) ?? []).compactMap { JSON.string($0["id"]) }
                p.messageFingerprints.append(Conversation.fingerprint(role: role, text: text + calls.joined(separator: ",")
                                                                      + (JSON.string(m["tool_call_id"]) ?? "")))
            }
            // Tool results of this turn: the trailing `tool` messages.
            for m in messages.reversed() {
                guard JSON.string(m["role"]) == "tool" else { break }
                p.toolResults.insert(ToolResult(callID: JSON.string(m["tool_call_id"]) ?? "", isError: false,
                                                content: JSON.contentText(m["content"])), at: 0)
            }
        } else if !input.request.isEmpty {
            p.parseErrors.append("request is not valid JSON")
        }
        if input.isEventStream {
            p.streamed = true
            var splitter = SSEEventSplitter()
            var events = splitter.feed(input.response)
            if let last = splitter.finish() { events.append(last) }
            var calls: [Int: ToolCall] = [:]
            var done = false
            for event in events {
                if event.data == "[DONE]" {
                    done = true
                    continue
                }
                guard let chunk = JSON.object(event.data) else {
                    p.parseErrors.append("invalid JSON in a chunk")
                    continue
                }
                if let model = JSON.string(chunk["model"]) { p.model = model }
                p.responseID = JSON.string(chunk["id"]) ?? p.responseID
                for choice in (chunk["choices"] as? [[String: Any]]) ?? [] {
                    if let reason = JSON.string(choice["finish_reason"]) { p.stopReason = reason }
                    let delta = choice["delta"] as? [String: Any]
                    for call in (delta?["tool_calls"] as? [[String: Any]]) ?? [] {
                        let index = Int(JSON.int(call["index"]))
                        var current = calls[index] ?? ToolCall(callID: "", name: "", arguments: "", kind: "function")
                        if let id = JSON.string(call["id"]) { current.callID = id }
                        let function = call["function"] as? [String: Any]
                        if let name = JSON.string(function?["name"]) { current.name += name }
                        current.arguments += JSON.string(function?["arguments"]) ?? ""
                        calls[index] = current
                    }
                }
                if let usage = chunk["usage"] as? [String: Any] { readChatUsage(usage, into: &p) }
            }
            p.toolCalls = calls.keys.sorted().compactMap { calls[$0] }
            if !done { p.parseErrors.append("stream truncated before [DONE]") }
        } else if let r = JSON.object(input.response) {
            if let model = JSON.string(r["model"]) { p.model = model }
            p.responseID = JSON.string(r["id"])
            let choice = (r["choices"] as? [[String: Any]])?.first
            p.stopReason = JSON.string(choice?["finish_reason"])
            let message = choice?["message"] as? [String: Any]
            for call in (message?["tool_calls"] as? [[String: Any]]) ?? [] {
                let function = call["function"] as? [String: Any]
                p.toolCalls.append(ToolCall(callID: JSON.string(call["id"]) ?? "", name: JSON.string(function?["name"]) ?? "",
                                            arguments: JSON.string(function?["arguments"]) ?? "", kind: "function"))
            }
            if let usage = r["usage"] as? [String: Any] { readChatUsage(usage, into: &p) }
        } else if !input.response.isEmpty {
            p.parseErrors.append("response is not valid JSON")
        }
    }

    private func readChatUsage(_ u: [String: Any], into p: inout ParsedExchange) {
        let cached = JSON.int((u["prompt_tokens_details"] as? [String: Any])?["cached_tokens"])
        p.usage.cacheRead = cached
        p.usage.input = max(0, JSON.int(u["prompt_tokens"]) - cached)
        p.usage.output = JSON.int(u["completion_tokens"])
        p.usage.reasoning = JSON.int((u["completion_tokens_details"] as? [String: Any])?["reasoning_tokens"])
        p.usageJSON = JSON.text(u)
    }

    // MARK: Responses

    private func readResponsesRequest(_ r: [String: Any], into p: inout ParsedExchange) {
        p.model = JSON.string(r["model"]) ?? p.model
        p.previousResponseID = JSON.string(r["previous_response_id"])
        if let instructions = JSON.string(r["instructions"]) { p.systemPrompt = instructions }
        if (r["generate"] as? Bool) == false {
            p.isPrewarm = true
            p.isModelTurn = false
        }
        if let text = r["input"] as? String {
            p.firstUserPrompt = Conversation.stripInjected(text)
            p.messageFingerprints.append(Conversation.fingerprint(role: "user", text: text))
            return
        }
        for item in (r["input"] as? [[String: Any]]) ?? [] {
            let type = JSON.string(item["type"]) ?? "message"
            switch type {
            case "message":
                let role = JSON.string(item["role"]) ?? "?"
                let text = JSON.contentText(item["content"])
                if (role == "system" || role == "developer") && p.systemPrompt == nil { p.systemPrompt = text }
                if role == "user", p.firstUserPrompt == nil, !Conversation.stripInjected(text).isEmpty,
                   !text.hasPrefix("<environment_context>") && !text.hasPrefix("<user_instructions>") {
                    p.firstUserPrompt = Conversation.stripInjected(text)
                }
                p.messageFingerprints.append(Conversation.fingerprint(role: role, text: text))
            case "function_call_output", "custom_tool_call_output":
                let id = JSON.string(item["call_id"]) ?? ""
                let output = JSON.text(item["output"])
                p.toolResults.append(ToolResult(callID: id, isError: false, content: output))
                p.messageFingerprints.append(Conversation.fingerprint(role: "tool", text: id))
            case "function_call", "custom_tool_call":
                p.messageFingerprints.append(Conversation.fingerprint(role: "assistant", text: JSON.string(item["call_id"]) ?? ""))
            default:
                continue
            }
        }
    }

    private func readResponseObject(_ r: [String: Any], into p: inout ParsedExchange) {
        if let model = JSON.string(r["model"]) { p.model = model }
        p.responseID = JSON.string(r["id"]) ?? p.responseID
        p.stopReason = JSON.string(r["status"]) ?? p.stopReason
        if let details = r["incomplete_details"] as? [String: Any], let reason = JSON.string(details["reason"]) { p.stopReason = reason }
        p.toolCalls = []
        for item in (r["output"] as? [[String: Any]]) ?? [] { readOutputItem(item, into: &p) }
        if let u = r["usage"] as? [String: Any] {
            let cached = JSON.int((u["input_tokens_details"] as? [String: Any])?["cached_tokens"])
            p.usage.cacheRead = cached
            p.usage.input = max(0, JSON.int(u["input_tokens"]) - cached)
            p.usage.output = JSON.int(u["output_tokens"])
            p.usage.reasoning = JSON.int((u["output_tokens_details"] as? [String: Any])?["reasoning_tokens"])
            p.usageJSON = JSON.text(u)
        }
    }

    private func readOutputItem(_ item: [String: Any], into p: inout ParsedExchange) {
        switch JSON.string(item["type"]) {
        case "function_call":
            p.toolCalls.append(ToolCall(callID: JSON.string(item["call_id"]) ?? "", name: JSON.string(item["name"]) ?? "",
                                        arguments: JSON.string(item["arguments"]) ?? "", kind: "function_call"))
        case "custom_tool_call":
            p.toolCalls.append(ToolCall(callID: JSON.string(item["call_id"]) ?? "", name: JSON.string(item["name"]) ?? "",
                                        arguments: JSON.string(item["input"]) ?? "", kind: "custom_tool_call"))
        default:
            break
        }
    }

    /// Reads one response's events (SSE data or WebSocket messages); returns whether it completed.
    /// Output items are assembled from `output_item.added` and the argument deltas as they stream, so a
    /// stream cut before `output_item.done` still yields its tool calls with what arrived.
    private func readResponseEvents(_ events: [[String: Any]], into p: inout ParsedExchange) -> Bool {
        var order: [String] = []
        var items: [String: [String: Any]] = [:]
        func upsert(_ item: [String: Any]) {
            let id = JSON.string(item["id"]) ?? "#\(order.count)"
            if items[id] == nil { order.append(id) }
            items[id] = item
        }
        func append(_ delta: Any?, to field: String, of id: String?) {
            guard let id, var item = items[id], let delta = JSON.string(delta) else { return }
            item[field] = (JSON.string(item[field]) ?? "") + delta
            items[id] = item
        }
        for event in events {
            switch JSON.string(event["type"]) {
            case "response.created", "response.in_progress":
                if let r = event["response"] as? [String: Any] {
                    p.responseID = JSON.string(r["id"])
                    if let model = JSON.string(r["model"]) { p.model = model }
                }
            case "response.output_item.added", "response.output_item.done":
                if let item = event["item"] as? [String: Any] { upsert(item) }
            case "response.function_call_arguments.delta":
                append(event["delta"], to: "arguments", of: JSON.string(event["item_id"]))
            case "response.custom_tool_call_input.delta":
                append(event["delta"], to: "input", of: JSON.string(event["item_id"]))
            case "response.completed", "response.incomplete", "response.failed":
                if let r = event["response"] as? [String: Any] { readResponseObject(r, into: &p) }
                // With `store: false` the final response may list no output: the streamed items are the record.
                if p.toolCalls.isEmpty { for id in order { if let item = items[id] { readOutputItem(item, into: &p) } } }
                if JSON.string(event["type"]) == "response.failed" { p.parseErrors.append("response failed") }
                return true
            case "error":
                p.parseErrors.append("stream error: \(JSON.text(event["error"] ?? event["message"]))")
                return true
            default:
                continue
            }
        }
        for id in order { if let item = items[id] { readOutputItem(item, into: &p) } }
        return false
    }

    private func parseResponses(_ input: ExchangeInput, into p: inout ParsedExchange) {
        if let r = JSON.object(input.request) {
            readResponsesRequest(r, into: &p)
        } else if !input.request.isEmpty {
            p.parseErrors.append("request is not valid JSON")
        }
        if input.isEventStream {
            p.streamed = true
            var splitter = SSEEventSplitter()
            var raw = splitter.feed(input.response)
            if let last = splitter.finish() { raw.append(last) }
            var events: [[String: Any]] = []
            for e in raw {
                guard let object = JSON.object(e.data) else {
                    p.parseErrors.append("invalid JSON in event \(e.event ?? "")")
                    continue
                }
                events.append(object)
            }
            if !readResponseEvents(events, into: &p) { p.parseErrors.append("stream truncated before response.completed") }
        } else if let r = JSON.object(input.response) {
            readResponseObject(r, into: &p)
        } else if !input.response.isEmpty {
            p.parseErrors.append("response is not valid JSON")
        }
    }

    /// Codex's Responses over WebSocket: each `response.create` and the events answering it is one turn.
    private func parseWebSocket(_ input: ExchangeInput, base: ParsedExchange) -> [ParsedExchange] {
        var turns: [ParsedExchange] = []
        var current: ParsedExchange?
        var events: [[String: Any]] = []
        func close(complete: Bool) {
            guard var turn = current else { return }
            if !readResponseEvents(events, into: &turn) && !complete {
                turn.parseErrors.append("socket ended before response.completed")
            }
            turns.append(turn)
            current = nil
            events = []
        }
        for message in input.webSocketMessages {
            guard let object = JSON.object(message.payload) else { continue }
            switch message.direction {
            case .clientToUpstream:
                guard JSON.string(object["type"]) == "response.create" else { continue }
                close(complete: false)
                var turn = base
                turn.streamed = true
                readResponsesRequest((object["response"] as? [String: Any]) ?? object, into: &turn)
                current = turn
            case .upstreamToClient:
                events.append(object)
                if let type = JSON.string(object["type"]), ["response.completed", "response.failed", "response.incomplete", "error"].contains(type) {
                    close(complete: true)
                }
            }
        }
        close(complete: false)
        return turns.isEmpty ? [base] : turns
    }
}
