/// Everything one turn writes: the turn row, its tool calls and results, its anomalies, and the session
/// totals it adds to. Built by the processor, written by a store in one transaction per batch.
struct TurnWrite: Equatable {
    var captureID: String
    var sessionID: String?
    var newSession: SessionRow?
    var seq: Int?
    var values: [String: SQLValue]
    var toolCalls: [ToolCall]
    var toolResults: [ToolResult]
    var anomalies: [AnomalyDetector.Anomaly]
    var sessionDelta: SessionDelta?
}

struct SessionRow: Equatable {
    var id: String
    var agent: String?
    var client: String?
    var provider: String
    var model: String?
    var externalID: String?
    var startedAt: String
    var intent: String?
    var gitContext: String?
    var promptHash: String?
}

/// What a turn adds to its session's running totals.
struct SessionDelta: Equatable {
    /// Whether the turn counts in `sessions.turn_count`: model turns do; side requests and prewarms do not.
    var countsAsTurn: Bool = true
    var lastActivityAt: String
    var lastActivityNs: Int64
    var model: String?
    var usage: TokenUsage
    var cost: Double?
    var chainHash: String
    var systemHash: String?
    /// A model turn's first user prompt and prompt hash: they fill a session's `intent` and `prompt_hash`
    /// when the turn that opened it had none (Codex opens its WebSocket sessions with a prewarm).
    var intent: String? = nil
    var promptHash: String? = nil
}

/// A value bound into SQL, the same for both backends.
enum SQLValue: Equatable, Sendable {
    case int(Int64)
    case double(Double)
    case text(String)
    case null

    static func optional(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
    static func optional(_ d: Double?) -> SQLValue { d.map { .double($0) } ?? .null }
    static func optional(_ i: Int64?) -> SQLValue { i.map { .int($0) } ?? .null }
}

/// A dead letter: a record that can never be written.
struct DeadLetter: Equatable {
    var captureID: String?
    var deliverySeq: UInt64
    var error: String
    var record: String
}

/// A database backend: migrations, the batch write, and the state sessions are rebuilt from.
protocol TurnStore: Sendable {
    func migrate() async throws
    /// Which of these capture ids are already written (a replay).
    func existing(_ captureIDs: [String]) async throws -> Set<String>
    /// Writes turns and dead letters in one transaction. A turn whose capture id is already stored is skipped
    /// whole (its tool calls, anomalies and session totals too), so a replay changes nothing.
    func write(_ turns: [TurnWrite], deadLetters: [DeadLetter]) async throws
    /// Recent sessions and their turns' cues, for the tracker after a restart.
    func loadTracker(into tracker: inout SessionTracker, since: String) async throws
    func close() async throws
    /// Whether `error`, thrown by ``write(_:deadLetters:)``, is about the data written (a constraint, a value the
    /// database refuses, a trigger): writing the same rows again would fail again. Anything else (connection lost,
    /// busy, disk full, permissions) may pass on a later try.
    nonisolated func isPermanent(_ error: any Error) -> Bool
    /// Runs one statement (administration, tests and the benchmark; never with input from a record).
    func execute(_ sql: String) async throws
    /// `SELECT count(*) FROM table`.
    func count(_ table: String) async throws -> Int
    /// The first column of every row of a query, as text (NULL as nil).
    func texts(_ sql: String) async throws -> [String?]
}
