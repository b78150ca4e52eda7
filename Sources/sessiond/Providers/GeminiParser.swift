import Foundation

/// Gemini (`generativelanguage.googleapis.com`): `:generateContent` and `:streamGenerateContent`.
struct GeminiParser: ProviderParser {
    func accepts(_ input: ExchangeInput) -> Bool {
        input.hostIs("generativelanguage.googleapis.com") || input.hostIs("aiplatform.googleapis.com")
    }

    func parse(_ input: ExchangeInput) -> [ParsedExchange] {
        var p = ParsedExchange()
        p.provider = "gemini"
        let route = input.route
        guard let colon = route.lastIndex(of: ":") else {
            p.endpoint = route
            return [p]
        }
        let method = String(route[route.index(after: colon)...])
        p.endpoint = method
        p.isModelTurn = method == "generateContent" || method == "streamGenerateContent"
        if let models = route.range(of: "/models/") { p.model = String(route[models.upperBound..<colon]) }
        if let r = JSON.object(input.request) {
            if let system = r["systemInstruction"] as? [String: Any] { p.systemPrompt = text(of: system) }
            for content in (r["contents"] as? [[String: Any]]) ?? [] {
                let role = JSON.string(content["role"]) ?? "user"
                let t = text(of: content)
                if role == "user", p.firstUserPrompt == nil, !t.isEmpty { p.firstUserPrompt = Conversation.stripInjected(t) }
                p.messageFingerprints.append(Conversation.fingerprint(role: role, text: t))
            }
            if let last = (r["contents"] as? [[String: Any]])?.last {
                for part in (last["parts"] as? [[String: Any]]) ?? [] {
                    guard let response = part["functionResponse"] as? [String: Any] else { continue }
                    p.toolResults.append(ToolResult(callID: JSON.string(response["id"]) ?? JSON.string(response["name"]) ?? "",
                                                    isError: false, content: JSON.text(response["response"])))
                }
            }
        } else if !input.request.isEmpty {
            p.parseErrors.append("request is not valid JSON")
        }
        var chunks: [[String: Any]] = []
        if input.isEventStream || method == "streamGenerateContent" {
            p.streamed = true
            if input.isEventStream {
                var splitter = SSEEventSplitter()
                var events = splitter.feed(input.response)
                if let last = splitter.finish() { events.append(last) }
                for e in events {
                    if let c = JSON.object(e.data) { chunks.append(c) } else { p.parseErrors.append("invalid JSON in a chunk") }
                }
            } else if let array = try? JSONSerialization.jsonObject(with: Data(input.response)) as? [[String: Any]] {
                chunks = array
            } else if !input.response.isEmpty {
                p.parseErrors.append("response is not valid JSON")
            }
        } else if let r = JSON.object(input.response) {
            chunks = [r]
        } else if !input.response.isEmpty {
            p.parseErrors.append("response is not valid JSON")
        }
        for chunk in chunks {
            if let version = JSON.string(chunk["modelVersion"]) { p.model = version }
            p.responseID = JSON.string(chunk["responseId"]) ?? p.responseID
            for candidate in (chunk["candidates"] as? [[String: Any]]) ?? [] {
                if let reason = JSON.string(candidate["finishReason"]) { p.stopReason = reason }
                for part in ((candidate["content"] as? [String: Any])?["parts"] as? [[String: Any]]) ?? [] {
                    guard let call = part["functionCall"] as? [String: Any] else { continue }
                    p.toolCalls.append(ToolCall(callID: JSON.string(call["id"]) ?? "call_\(p.toolCalls.count)",
                                                name: JSON.string(call["name"]) ?? "", arguments: JSON.text(call["args"] ?? [String: Any]()),
                                                kind: "functionCall"))
                }
            }
            if let u = chunk["usageMetadata"] as? [String: Any] {
                let cached = JSON.int(u["cachedContentTokenCount"])
                p.usage.cacheRead = cached
                p.usage.input = max(0, JSON.int(u["promptTokenCount"]) - cached)
                p.usage.reasoning = JSON.int(u["thoughtsTokenCount"])
                p.usage.output = JSON.int(u["candidatesTokenCount"]) + p.usage.reasoning
                p.usageJSON = JSON.text(u)
            }
        }
        if p.streamed && p.stopReason == nil && !chunks.isEmpty { p.parseErrors.append("stream truncated before finishReason") }
        if let status = input.status, status >= 400 {
            p.parseErrors.append("upstream error \(status): \(JSON.string((JSON.object(input.response)?["error"] as? [String: Any])?["message"]) ?? "")")
        }
        return [p]
    }

    private func text(of content: [String: Any]) -> String {
        ((content["parts"] as? [[String: Any]]) ?? []).compactMap { JSON.string($0["text"]) }.joined(separator: "\n")
    }
}
