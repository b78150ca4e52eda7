import Foundation

/// Anthropic Messages (`api.anthropic.com/v1/messages`), JSON and SSE, plus its side requests.
struct AnthropicParser: ProviderParser {
    func accepts(_ input: ExchangeInput) -> Bool {
        input.hostIs("anthropic.com")
    }

    func parse(_ input: ExchangeInput) -> [ParsedExchange] {
        var p = ParsedExchange()
        p.provider = "anthropic"
        let route = input.route
        switch route {
        case "/v1/messages": p.endpoint = "messages"; p.isModelTurn = true
        case "/v1/messages/count_tokens": p.endpoint = "count_tokens"
        default: p.endpoint = route.hasPrefix("/api/claude_code/") ? "claude_code" + route.dropFirst("/api/claude_code".count) : route
        }
        p.clientSessionID = input.requestHeaders["x-claude-code-session-id"]
        if let request = JSON.object(input.request) {
            readRequest(request, into: &p)
        } else if !input.request.isEmpty {
            p.parseErrors.append("request is not valid JSON")
        }
        guard p.endpoint == "messages" else { return [p] }
        if input.isEventStream {
            p.streamed = true
            readStream(input.response, into: &p)
        } else if let response = JSON.object(input.response) {
            readMessage(response, into: &p)
        } else if !input.response.isEmpty {
            p.parseErrors.append("response is not valid JSON")
        }
        if let status = input.status, status >= 400 {
            let error = (JSON.object(input.response)?["error"] as? [String: Any])
            p.parseErrors.append("upstream error \(status): \(JSON.string(error?["message"]) ?? JSON.string(error?["type"]) ?? "")")
        }
        if input.incomplete && p.stopReason == nil { p.parseErrors.append("response incomplete") }
        return [p]
    }

    private func readRequest(_ r: [String: Any], into p: inout ParsedExchange) {
        p.model = JSON.string(r["model"])
        if let system = r["system"] { p.systemPrompt = JSON.contentText(system) }
        if p.clientSessionID == nil, let metadata = r["metadata"] as? [String: Any], let user = JSON.string(metadata["user_id"]) {
            p.clientSessionID = Self.sessionID(fromUserID: user)
        }
        for message in (r["messages"] as? [[String: Any]]) ?? [] {
            let role = JSON.string(message["role"]) ?? "?"
            let content = message["content"]
            var text = JSON.contentText(content)
            for block in (content as? [[String: Any]]) ?? [] {
                switch JSON.string(block["type"]) {
                case "tool_result":
                    let id = JSON.string(block["tool_use_id"]) ?? ""
                    text += "\n[tool_result \(id)]"
                    p.toolResults.append(ToolResult(callID: id, isError: (block["is_error"] as? Bool) ?? false,
                                                    content: JSON.contentText(block["content"])))
                case "tool_use":
                    text += "\n[tool_use \(JSON.string(block["id"]) ?? "")]"
                default: break
                }
            }
            if role == "user", p.firstUserPrompt == nil {
                let stripped = Conversation.stripInjected(JSON.contentText(content))
                if !stripped.isEmpty { p.firstUserPrompt = stripped }
            }
            p.messageFingerprints.append(Conversation.fingerprint(role: role, text: text))
        }
        // The latest request's tool results belong to this turn; earlier ones were recorded with earlier turns.
        if let lastUser = ((r["messages"] as? [[String: Any]]) ?? []).last, JSON.string(lastUser["role"]) == "user" {
            let ids = Set(((lastUser["content"] as? [[String: Any]]) ?? []).compactMap { JSON.string($0["tool_use_id"]) })
            p.toolResults = p.toolResults.filter { ids.contains($0.callID) }
        } else {
            p.toolResults = []
        }
    }

    /// Claude Code's `metadata.user_id`: today a JSON string holding `session_id`; older versions
    /// `user_<hex>_account_<uuid>_session_<uuid>`.
    static func sessionID(fromUserID user: String) -> String? {
        if let object = JSON.object(user), let id = JSON.string(object["session_id"]) { return id }
        guard let range = user.range(of: "_session_") else { return nil }
        let id = String(user[range.upperBound...])
        return id.isEmpty ? nil : id
    }

    private func readMessage(_ m: [String: Any], into p: inout ParsedExchange) {
        if let model = JSON.string(m["model"]) { p.model = model }
        p.responseID = JSON.string(m["id"])
        p.stopReason = JSON.string(m["stop_reason"])
        for block in (m["content"] as? [[String: Any]]) ?? [] where JSON.string(block["type"]) == "tool_use" {
            p.toolCalls.append(ToolCall(callID: JSON.string(block["id"]) ?? "", name: JSON.string(block["name"]) ?? "",
                                        arguments: JSON.text(block["input"] ?? [String: Any]()), kind: "tool_use"))
        }
        if let usage = m["usage"] as? [String: Any] { readUsage(usage, into: &p) }
    }

    private func readUsage(_ u: [String: Any], into p: inout ParsedExchange) {
        if u["input_tokens"] != nil { p.usage.input = JSON.int(u["input_tokens"]) }
        if u["output_tokens"] != nil { p.usage.output = JSON.int(u["output_tokens"]) }
        if u["cache_read_input_tokens"] != nil { p.usage.cacheRead = JSON.int(u["cache_read_input_tokens"]) }
        if let split = u["cache_creation"] as? [String: Any] {
            p.usage.cacheWrite5m = JSON.int(split["ephemeral_5m_input_tokens"])
            p.usage.cacheWrite1h = JSON.int(split["ephemeral_1h_input_tokens"])
        } else if u["cache_creation_input_tokens"] != nil {
            p.usage.cacheWrite5m = JSON.int(u["cache_creation_input_tokens"])
        }
        p.usageJSON = JSON.text(u)
    }

    private func readStream(_ bytes: [UInt8], into p: inout ParsedExchange) {
        var splitter = SSEEventSplitter()
        var events = splitter.feed(bytes)
        if let last = splitter.finish() { events.append(last) }
        var toolIndex: [Int: Int] = [:]
        var arguments: [Int: String] = [:]
        var sawStop = false
        for event in events {
            guard let data = JSON.object(event.data) else {
                if !event.data.isEmpty { p.parseErrors.append("invalid JSON in event \(event.event ?? "message")") }
                continue
            }
            switch JSON.string(data["type"]) {
            case "message_start":
                if let message = data["message"] as? [String: Any] { readMessage(message, into: &p) }
            case "content_block_start":
                let index = Int(JSON.int(data["index"]))
                if let block = data["content_block"] as? [String: Any], JSON.string(block["type"]) == "tool_use" {
                    toolIndex[index] = p.toolCalls.count
                    p.toolCalls.append(ToolCall(callID: JSON.string(block["id"]) ?? "", name: JSON.string(block["name"]) ?? "",
                                                arguments: "", kind: "tool_use"))
                }
            case "content_block_delta":
                let index = Int(JSON.int(data["index"]))
                if let delta = data["delta"] as? [String: Any], JSON.string(delta["type"]) == "input_json_delta" {
                    arguments[index, default: ""] += JSON.string(delta["partial_json"]) ?? ""
                }
            case "message_delta":
                if let delta = data["delta"] as? [String: Any], let stop = JSON.string(delta["stop_reason"]) { p.stopReason = stop }
                if let usage = data["usage"] as? [String: Any] {
                    var merged = (JSON.object(p.usageJSON ?? "") ?? [:])
                    for (k, v) in usage { merged[k] = v }
                    readUsage(merged, into: &p)
                }
            case "message_stop":
                sawStop = true
            case "error":
                let error = data["error"] as? [String: Any]
                p.parseErrors.append("stream error: \(JSON.string(error?["message"]) ?? "unknown")")
            default:
                break
            }
        }
        for (index, call) in toolIndex {
            let args = arguments[index] ?? ""
            p.toolCalls[call].arguments = args.isEmpty ? "{}" : args
        }
        if !sawStop { p.parseErrors.append("stream truncated before message_stop") }
    }
}
