import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import Shared

/// Turns delivered records into database rows: reads the bodies, parses them, assigns sessions, prices
/// the tokens, looks for anomalies, and writes a batch in one transaction. Only after the commit may the
/// batch be acknowledged. A record that can never be written becomes a dead letter (and is acknowledged).
actor RecordProcessor {
    private let store: any TurnStore
    private var tracker: SessionTracker
    private var prices: PriceTable
    let layout: ObjectStoreLayout
    private let logger: Logger
    let detector = AnomalyDetector()
    /// The status file's counters; the ones the status contract names are there from the start, at 0.
    private(set) var counters: [String: Double] = Dictionary(uniqueKeysWithValues: [
        "records", "turns", "model_turns", "sessions", "db_errors", "dead_letters", "unknown_model_warnings",
        "replays_skipped",
    ].map { ($0, 0) })
    private(set) var databaseHealthy = true
    /// How long each committed batch took, from handing it to the database to its commit.
    private(set) var writeLatency = LatencyHistogram()
    /// When the commit now running started (nil when none runs): a commit that does not return is a database
    /// that does not answer, and the status says so long before the driver gives up.
    private(set) var commitStartedAt: ContinuousClock.Instant?
    /// One batch at a time, whatever the number of connections: the actor would otherwise interleave two
    /// batches at their `await`s, and a failed one would roll the tracker back under the other.
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var closed = false
    private var warnedModels: Set<String> = []

    init(store: any TurnStore, tracker: SessionTracker, prices: PriceTable, state: StateDirectory, logger: Logger) {
        self.store = store
        self.tracker = tracker
        self.prices = prices
        self.layout = ObjectStoreLayout(state: state)
        self.logger = logger
    }

    /// Writes a batch of `(delivery seq, record JSON)`; returns once every record in it is committed, as turns or
    /// as a dead letter. Throws when the database could not take it now (the caller retries; nothing may be
    /// acknowledged).
    func process(_ batch: [(UInt64, ByteBuffer)]) async throws {
        try await process(await prepare(batch))
    }

    /// Commits a batch prepared with ``prepare(_:)``, as `process(_ batch: [(UInt64, ByteBuffer)])` does; a batch
    /// may be committed again after a failure (the tracker is rolled back, so it gets the same sessions).
    func process(_ batch: PreparedBatch) async throws {
        await acquire()
        defer { release() }
        guard !closed else { throw SessiondError(.database, "sessiond is stopping; the batch stays unacknowledged") }
        let started = ContinuousClock.now
        commitStartedAt = started
        defer { commitStartedAt = nil }
        do {
            try await commitSplittingOutPoison(batch.entries[...])
            databaseHealthy = true
            let elapsed = ContinuousClock.now - started
            counters["db_commit_ms_last"] = Self.milliseconds(elapsed)
            writeLatency.record(seconds: Self.milliseconds(elapsed) / 1000)
        } catch {
            bump("db_errors", 1)
            databaseHealthy = false
            throw SessiondError(.database, String(reflecting: error))
        }
    }

    /// A reload's live settings (``ReloadPolicy/sessiond``), taken between batches so a batch (and its retry)
    /// sees one idle timeout and one price table. nil leaves a setting as it is.
    func applyLive(idleTimeoutNanoseconds: Int64?, prices: PriceTable?) async {
        await acquire()
        defer { release() }
        if let idleTimeoutNanoseconds { tracker.idleTimeout = idleTimeoutNanoseconds }
        if let prices { self.prices = prices }
    }

    /// The idle timeout sessions are split at now.
    var idleTimeoutNanoseconds: Int64 { tracker.idleTimeout }

    /// Waits for the batch being written, then refuses new ones: the store may be closed after this returns.
    func shutdown() async {
        await acquire()
        closed = true
        release()
    }

    private func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }

    /// Commits the batch in one transaction. When the database refuses it because of what is in it, the batch is
    /// halved until the record it refuses is alone; that record becomes a dead letter and the rest are written,
    /// so one bad record never wedges the pipeline. Any other failure is thrown for a later retry.
    private func commitSplittingOutPoison(_ batch: ArraySlice<PreparedBatch.Entry>) async throws {
        do {
            try await commit(batch, deadLettering: [])
        } catch let error where store.isPermanent(error) {
            guard batch.count > 1 else {
                let entry = batch[batch.startIndex]
                let id = entry.record.map { _ in entry.captureID }
                logger.error("the database refuses a record; it goes to dead_letters", metadata: [
                    "seq": "\(entry.seq)", "capture_id": "\(id ?? "?")",
                    "error": "\(String(reflecting: error))"])
                try await commit([], deadLettering: [DeadLetter(
                    captureID: id, deliverySeq: entry.seq,
                    error: "refused by the database: \(String(reflecting: error))", record: Self.text(entry.payload))])
                return
            }
            let middle = batch.startIndex + batch.count / 2
            try await commitSplittingOutPoison(batch[..<middle])
            try await commitSplittingOutPoison(batch[middle...])
        }
    }

    /// One transaction: the batch's turns and dead letters. The tracker is rolled back when it fails, so a retry
    /// assigns the same sessions.
    private func commit(_ batch: ArraySlice<PreparedBatch.Entry>, deadLettering extra: [DeadLetter]) async throws {
        let snapshot = tracker
        // Positions in `batch`, not copies: an entry holds a record and its parse (many references to retain).
        var decoded: [Int] = []
        var deadLetters = extra
        for (index, entry) in zip(batch.indices, batch) {
            if entry.record != nil {
                decoded.append(index)
            } else {
                deadLetters.append(DeadLetter(captureID: nil, deliverySeq: entry.seq,
                                              error: "not a capture record: \(entry.decodeError)", record: Self.text(entry.payload)))
            }
        }
        do {
            let existing = try await store.existing(decoded.map { batch[$0].captureID })
            var writes: [TurnWrite] = []
            var seen = existing
            // A record delivered twice (in this batch or before) is written once.
            let fresh = decoded.filter { seen.insert(batch[$0].captureID).inserted }
            for index in fresh {
                let entry = batch[index]
                guard let record = entry.record else { continue }
                do {
                    writes += try turns(for: record, captureID: entry.captureID, prepared: entry.prepared)
                } catch {
                    deadLetters.append(DeadLetter(captureID: entry.captureID, deliverySeq: entry.seq,
                                                  error: "\(error)", record: ""))
                }
            }
            try await store.write(writes, deadLetters: deadLetters)
            bump("records", Double(batch.count))
            bump("turns", Double(writes.count))
            bump("model_turns", Double(writes.filter { $0.sessionDelta?.countsAsTurn ?? false }.count))
            bump("sessions", Double(writes.filter { $0.newSession != nil }.count))
            bump("replays_skipped", Double(decoded.count - (seen.count - existing.count)))
            bump("dead_letters", Double(deadLetters.count))
        } catch {
            tracker = snapshot
            throw error
        }
    }

    /// A payload as text for `dead_letters.record` (the JSON as received; invalid UTF-8 shown as U+FFFD).
    private static func text(_ payload: ByteBuffer) -> String {
        String(decoding: payload.readableBytesView, as: UTF8.self)
    }

    static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    private func bump(_ name: String, _ amount: Double) {
        counters[name, default: 0] += amount
    }

    // MARK: - one record

    private func turns(for record: CaptureRecord, captureID base: String, prepared: PreparedRecord) throws -> [TurnWrite] {
        var writes: [TurnWrite] = []
        for (index, (p, hashes)) in zip(prepared.parsed, prepared.hashes).enumerated() {
            if p.model == nil { bump("unknown_model_turns", p.isModelTurn ? 1 : 0) }
            let captureID = index == 0 ? base : "\(base)#\(index + 1)"
            writes.append(try turn(record, parsed: p, hashes: hashes, captureID: captureID,
                                   secrets: index == 0 ? prepared.secrets : []))
        }
        return writes
    }

    private func turn(_ record: CaptureRecord, parsed p: ParsedExchange, hashes: SessionTracker.TurnHashes,
                      captureID: String, secrets: [AnomalyDetector.Anomaly]) throws -> TurnWrite {
        let started = record.begin.startedAt
        let startedAt = Timestamp.string(nanoseconds: started)
        let assignment = tracker.assign(captureID: captureID, parsed: p, hashes: hashes, at: started)
        let cost = p.isModelTurn ? prices.cost(model: p.model, usage: p.usage, date: String(startedAt.prefix(10))) : nil
        if p.isModelTurn && cost == nil, let model = p.model {
            bump("unknown_model_warnings", 1)
            if warnedModels.insert(model).inserted {
                logger.warning("no price for this model: its turns get cost NULL (add it with sessions.price_file)",
                               metadata: ["model": "\(model)"])
            }
        }
        let requestSHA = record.requestBody?.sha256 ?? ""
        let responseSHA = record.responseBody?.sha256 ?? ""
        let status = record.end.status ?? record.response?.status
        let chainHash = TurnChain.hash(previous: assignment?.previousChainHash ?? "", captureID: captureID,
                                       requestSHA256: requestSHA, responseSHA256: responseSHA, inputTokens: p.usage.input,
                                       outputTokens: p.usage.output, cacheReadTokens: p.usage.cacheRead,
                                       cacheWriteTokens: p.usage.cacheWrite, model: p.model, status: status,
                                       outcome: record.end.outcome.rawValue)
        if let assignment { tracker.chained(assignment.sessionID, hash: chainHash) }
        let prompt = hashes.prompt
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
            "conversation_hash": .optional(assignment.map { $0.conversationHash }
                ?? hashes.prefixes.last),
            "response_id": .optional(p.responseID), "previous_response_id": .optional(p.previousResponseID),
            "client_session_id": .optional(p.clientSessionID), "session_cue": .optional(assignment?.cue),
            "parse_error": .optional(p.parseErrors.isEmpty ? nil : p.parseErrors.joined(separator: "; ")),
            "redactions": .optional(record.end.redactions.isEmpty ? nil : record.end.redactions.joined(separator: ",")),
            "client_pid": .optional(client.pid.map(Int64.init)), "client_executable": .optional(client.executable),
            "client_cwd": .optional(client.workingDirectory), "user_agent": .optional(client.userAgent),
            "metadata_path": .text(record.metadataPath), "chain_hash": .text(chainHash),
        ]
        var anomalies = secrets
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
            SessionDelta(countsAsTurn: p.isModelTurn, lastActivityAt: Timestamp.string(nanoseconds: record.end.endedAt),
                         lastActivityNs: started,
                         model: p.model, usage: p.usage, cost: cost, chainHash: chainHash,
                         systemHash: hashes.system,
                         intent: p.isModelTurn ? p.firstUserPrompt.map { String($0.prefix(200)) } : nil,
                         promptHash: p.isModelTurn ? prompt : nil)
        }
        return TurnWrite(captureID: captureID, sessionID: assignment?.sessionID, newSession: newSession, seq: assignment?.seq,
                         values: values, toolCalls: p.toolCalls, toolResults: p.toolResults, anomalies: anomalies,
                         sessionDelta: delta)
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
