import Crypto
import Foundation
import Logging
import NIOCore
import Shared

/// Turns delivered records into database rows: reads the bodies, parses them, assigns sessions, prices
/// the tokens, looks for anomalies, and writes a batch in one transaction. Only after the commit may the
/// batch be acknowledged. A record that can never be written becomes a dead letter (and is acknowledged).
actor RecordProcessor {
    private let store: any TurnStore
    private var tracker: SessionTracker
    private let prices: PriceTable
    private let layout: ObjectStoreLayout
    private let logger: Logger
    private let detector = AnomalyDetector()
    private(set) var counters: [String: Double] = [:]
    private(set) var databaseHealthy = true

    init(store: any TurnStore, tracker: SessionTracker, prices: PriceTable, state: StateDirectory, logger: Logger) {
        self.store = store
        self.tracker = tracker
        self.prices = prices
        self.layout = ObjectStoreLayout(state: state)
        self.logger = logger
    }

    /// Writes a batch of `(delivery seq, record JSON)`; returns once it is committed. Throws when the database
    /// refused it (the caller retries; nothing is acknowledged).
    func process(_ batch: [(UInt64, ByteBuffer)]) async throws {
        let started = ContinuousClock.now
        let snapshot = tracker
        var decoded: [(UInt64, CaptureRecord)] = []
        var deadLetters: [DeadLetter] = []
        for (seq, payload) in batch {
            do {
                decoded.append((seq, try JSONDecoder().decode(CaptureRecord.self, from: Data(payload.readableBytesView))))
            } catch {
                deadLetters.append(DeadLetter(captureID: nil, deliverySeq: seq, error: "not a capture record: \(error)",
                                              record: String(buffer: payload)))
            }
        }
        do {
            let existing = try await store.existing(decoded.map { $0.1.captureID.uuidString.lowercased() })
            var writes: [TurnWrite] = []
            for (seq, record) in decoded where !existing.contains(record.captureID.uuidString.lowercased()) {
                do {
                    writes += try turns(for: record)
                } catch {
                    deadLetters.append(DeadLetter(captureID: record.captureID.uuidString.lowercased(), deliverySeq: seq,
                                                  error: "\(error)", record: ""))
                }
            }
            try await store.write(writes, deadLetters: deadLetters)
            bump("records", Double(batch.count))
            bump("turns", Double(writes.count))
            bump("replays_skipped", Double(existing.count))
            bump("dead_letters", Double(deadLetters.count))
            counters["db_write_ms_last"] = Double((ContinuousClock.now - started).components.attoseconds / 1_000_000_000_000_000)
                + Double((ContinuousClock.now - started).components.seconds) * 1000
            databaseHealthy = true
        } catch {
            tracker = snapshot
            bump("db_errors", 1)
            databaseHealthy = false
            throw SessiondError(.database, "\(error)")
        }
    }

    private func bump(_ name: String, _ amount: Double) {
        counters[name, default: 0] += amount
    }

    // MARK: - one record

    private func turns(for record: CaptureRecord) throws -> [TurnWrite] {
        let requestHeaders = Self.headers(record.begin.headers)
        let responseHeaders = Self.headers(record.response?.headers ?? [])
        let request = (try? record.requestBody.map { try layout.read($0) }) ?? []
        let response = (try? record.responseBody.map { try layout.read($0) }) ?? []
        var missing: [String] = []
        if record.requestBody != nil && request.isEmpty && (record.requestBody?.size ?? 0) > 0 { missing.append("request object missing") }
        if record.responseBody != nil && response.isEmpty && (record.responseBody?.size ?? 0) > 0 { missing.append("response object missing") }
        let messages = record.webSocketMessages.map { ($0.direction, (try? layout.read($0.body)) ?? []) }
        let input = ExchangeInput(
            host: record.begin.host.lowercased(), path: record.begin.path, method: record.begin.method,
            requestHeaders: requestHeaders, responseHeaders: responseHeaders, status: record.end.status ?? record.response?.status,
            request: request, response: response, webSocketMessages: messages,
            incomplete: record.end.outcome != .complete && record.end.outcome != .webSocketClosed)
        let parsed = ProviderRouter.parse(input)
        let base = record.captureID.uuidString.lowercased()
        var writes: [TurnWrite] = []
        for (index, var p) in parsed.enumerated() {
            p.parseErrors += missing
            if p.model == nil { bump("unknown_model_turns", p.isModelTurn ? 1 : 0) }
            let captureID = index == 0 ? base : "\(base)#\(index + 1)"
            writes.append(try turn(record, parsed: p, captureID: captureID, request: index == 0 ? request : []))
        }
        return writes
    }

    private func turn(_ record: CaptureRecord, parsed p: ParsedExchange, captureID: String, request: [UInt8]) throws -> TurnWrite {
        let started = record.begin.startedAt
        let startedAt = Timestamp.string(nanoseconds: started)
        let assignment = tracker.assign(captureID: captureID, parsed: p, at: started)
        let cost = p.isModelTurn ? prices.cost(model: p.model, usage: p.usage, date: String(startedAt.prefix(10))) : nil
        if p.isModelTurn && cost == nil && p.model != nil {
            bump("unknown_model_warnings", 1)
            logger.warning("no price for model; cost left empty", metadata: ["model": "\(p.model ?? "")"])
        }
        let requestSHA = record.requestBody?.sha256 ?? ""
        let responseSHA = record.responseBody?.sha256 ?? ""
        let status = record.end.status ?? record.response?.status
        let chainInput = [assignment?.previousChainHash ?? "", captureID, requestSHA, responseSHA, "\(p.usage.input)",
                          "\(p.usage.output)", "\(p.usage.cacheRead)", "\(p.usage.cacheWrite)", p.model ?? "",
                          "\(status ?? 0)", record.end.outcome.rawValue].joined(separator: "|")
        let chainHash = SessionTracker.hash(chainInput)
        if let assignment { tracker.chained(assignment.sessionID, hash: chainHash) }
        let prompt = SessionTracker.promptHash(system: p.systemPrompt, firstUser: p.firstUserPrompt)
        let client = record.begin.client
        let values: [String: SQLValue] = [
            "capture_id": .text(captureID), "session_id": .optional(assignment?.sessionID),
            "seq": assignment.map { .int(Int64($0.seq)) } ?? .null, "started_at": .text(startedAt),
            "ttfb_ms": .optional(record.end.timeToFirstByte.map { Double($0) / 1e6 }),
            "duration_ms": .double(Double(record.end.endedAt - started) / 1e6), "provider": .text(p.provider),
            "endpoint": .text(p.endpoint), "model": .optional(p.model), "method": .text(record.begin.method),
            "host": .text(record.begin.host), "path": .text(record.begin.path), "status": .optional(status.map(Int64.init)),
            "streamed": .int(p.streamed || record.end.streamed ? 1 : 0), "outcome": .text(record.end.outcome.rawValue),
            "is_model_turn": .int(p.isModelTurn ? 1 : 0), "is_prewarm": .int(p.isPrewarm ? 1 : 0),
            "request_sha256": .optional(record.requestBody?.sha256), "response_sha256": .optional(record.responseBody?.sha256),
            "request_bytes": .int(record.requestBody?.fullSize ?? 0), "response_bytes": .int(record.responseBody?.fullSize ?? 0),
            "input_tokens": .int(p.usage.input), "output_tokens": .int(p.usage.output),
            "cache_read_tokens": .int(p.usage.cacheRead), "cache_write_tokens": .int(p.usage.cacheWrite),
            "cache_write_5m_tokens": .int(p.usage.cacheWrite5m), "cache_write_1h_tokens": .int(p.usage.cacheWrite1h),
            "reasoning_tokens": .int(p.usage.reasoning), "cost_usd": .optional(cost), "stop_reason": .optional(p.stopReason),
            "usage_json": .optional(p.usageJSON), "prompt_hash": .optional(prompt),
            "conversation_hash": .optional(SessionTracker.prefixHashes(p.messageFingerprints).last),
            "response_id": .optional(p.responseID), "previous_response_id": .optional(p.previousResponseID),
            "client_session_id": .optional(p.clientSessionID), "session_cue": .optional(assignment?.cue),
            "parse_error": .optional(p.parseErrors.isEmpty ? nil : p.parseErrors.joined(separator: "; ")),
            "redactions": .optional(record.end.redactions.isEmpty ? nil : record.end.redactions.joined(separator: ",")),
            "client_pid": .optional(client.pid.map(Int64.init)), "client_executable": .optional(client.executable),
            "client_cwd": .optional(client.workingDirectory), "user_agent": .optional(client.userAgent),
            "metadata_path": .text(record.metadataPath), "chain_hash": .text(chainHash),
        ]
        var anomalies = request.isEmpty ? [] : detector.secrets(request: request, redactedRules: record.end.redactions)
        anomalies += detector.injection(toolResults: p.toolResultTexts)
        if assignment?.systemPromptChanged == true {
            anomalies.append(.init(kind: "system_prompt_drift", rule: "system_prompt_changed",
                                   detail: "the system prompt differs from the session's previous turn"))
        }
        let newSession = assignment.flatMap { a -> SessionRow? in
            guard a.isNew else { return nil }
            return SessionRow(id: a.sessionID, agent: Self.agent(userAgent: client.userAgent, executable: client.executable),
                              client: client.userAgent, provider: p.provider, model: p.model, externalID: p.clientSessionID,
                              startedAt: startedAt, intent: p.firstUserPrompt.map { String($0.prefix(200)) },
                              gitContext: client.workingDirectory.flatMap(Self.gitContext), promptHash: prompt)
        }
        let delta = assignment.map { _ in
            SessionDelta(lastActivityAt: Timestamp.string(nanoseconds: record.end.endedAt), lastActivityNs: started,
                         model: p.model, usage: p.usage, cost: cost, chainHash: chainHash,
                         systemHash: p.systemPrompt.map { SessionTracker.hash(Conversation.stripInjected($0)) })
        }
        return TurnWrite(captureID: captureID, sessionID: assignment?.sessionID, newSession: newSession, seq: assignment?.seq,
                         values: values, toolCalls: p.toolCalls, toolResults: p.toolResults, anomalies: anomalies,
                         sessionDelta: delta)
    }

    static func headers(_ pairs: [HeaderPair]) -> [String: String] {
        var out: [String: String] = [:]
        for pair in pairs where pair.count == 2 { out[pair[0].lowercased()] = pair[1] }
        return out
    }

    /// The agent family from the client's User-Agent or executable.
    static func agent(userAgent: String?, executable: String?) -> String? {
        let ua = (userAgent ?? "").lowercased()
        let exe = (executable ?? "").lowercased()
        if ua.contains("claude-cli") || ua.contains("claude-code") || exe.hasSuffix("/claude") { return "claude-code" }
        if ua.contains("codex") || exe.contains("codex") { return "codex" }
        if ua.contains("gemini-cli") || exe.contains("gemini") { return "gemini-cli" }
        if ua.hasPrefix("anthropic/") { return "anthropic-sdk" }
        if ua.hasPrefix("openai/") { return "openai-sdk" }
        if ua.hasPrefix("curl/") { return "curl" }
        return ua.split(separator: "/").first.map(String.init)
    }

    /// `repo@branch` from the client's working directory, when it is a git checkout.
    static func gitContext(_ directory: String) -> String? {
        var dir = URL(fileURLWithPath: directory)
        for _ in 0..<20 {
            let head = dir.appendingPathComponent(".git/HEAD").path
            if let text = try? String(contentsOfFile: head, encoding: .utf8) {
                let ref = text.trimmingCharacters(in: .whitespacesAndNewlines)
                let branch = ref.hasPrefix("ref: refs/heads/") ? String(ref.dropFirst(16)) : String(ref.prefix(12))
                return "\(dir.lastPathComponent)@\(branch)"
            }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        return nil
    }
}
