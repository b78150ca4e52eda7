/// The one schema of both backends, as versioned migrations. sessiond applies them at start (`schema_migrations`
/// holds the versions applied; `sessiond --migrate-only` applies them as the tables' owner and exits). Readers
/// such as `flightlog sessions/show/verify/export` query these tables directly, so they stay plain:
///
/// Conventions: timestamps are ISO 8601 UTC text with milliseconds (`2026-11-24T10:00:00.123Z`), so both
/// backends sort and compare them alike; `*_ms` are milliseconds, `cost_usd` US dollars (NULL when the
/// model has no price, never 0 for "unknown"); booleans are 0/1 integers. Token columns mean the same for
/// every provider, so sums never count a token twice: `input_tokens` is uncached input only,
/// `cache_read_tokens` and `cache_write_tokens` (= `cache_write_5m_tokens` + `cache_write_1h_tokens`) are
/// the cached kinds, `output_tokens` includes `reasoning_tokens`; `usage_json` is the provider's own usage
/// object as sent.
///
/// - `sessions` (running totals, updated as turns arrive): `id` (`s_<capture id of its first turn>`),
///   `agent` (claude-code, codex, …), `client` (User-Agent), `provider`, `model` (latest), `external_id`
///   (the client's own session id), `started_at`, `last_activity_at`, `turn_count` (model turns only),
///   token and cost totals, `intent` (start of the first user prompt), `git_context` (`repo@branch`),
///   `prompt_hash`, `system_hash`, `last_chain_hash` (the chain link of its latest turn).
/// - `turns` (append-only): one row per exchange (one per `response.create` for Responses over
///   WebSocket, `capture_id#N` after the first). `capture_id` is unique, so a replayed record changes
///   nothing. `session_id` and `seq` (1, 2, … within the session; side requests take a seq too) are NULL
///   for a request no cue ties to a session. `is_model_turn` is 0 for side requests (count_tokens,
///   telemetry) and prewarms (`is_prewarm`). `status` is what the upstream sent (or the gateway's own
///   answer); `outcome` how the exchange ended; `parse_error` what could not be read. `request_sha256`
///   and `response_sha256` name the stored objects. `session_cue` says which cue placed the turn.
///   `chain_hash` = ``TurnChain/hash(previous:captureID:requestSHA256:responseSHA256:inputTokens:outputTokens:cacheReadTokens:cacheWriteTokens:model:status:outcome:)``
///   over the previous turn's `chain_hash` in the session ("" for the first, or for a turn with no
///   session) and this row's columns, so an edit that bypassed the triggers breaks the chain.
/// - `tool_calls` (append-only): `turn_id` → `turns.id`, `seq` within the turn, the provider's `call_id`,
///   `name`, `arguments` (JSON text, or the raw input of a custom tool), `kind` (tool_use, function,
///   function_call, custom_tool_call, functionCall).
/// - `tool_results` (append-only): the results a request carried back, linked by `call_id`, with
///   `is_error` and the first 65,536 characters of `content`.
/// - `anomaly_events`: `kind` secret_exposure / prompt_injection / system_prompt_drift, the `rule` that
///   fired, a `detail` that holds at most the first four characters of a secret.
/// - `access_audit_log` (append-only): who read or exported what, when (written by the CLI).
/// - `dead_letters`: records that could never be written, with the `error` and the `record` as received.
///
/// UPDATE and DELETE on the append-only tables, and TRUNCATE in PostgreSQL, are refused by triggers.
enum Schema {
    enum Dialect { case sqlite, postgres }

    static let appendOnlyTables = ["turns", "tool_calls", "tool_results", "access_audit_log"]

    static func migrations(_ d: Dialect) -> [(version: Int, statements: [String])] {
        let id = d == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"
        let real = d == .sqlite ? "REAL" : "DOUBLE PRECISION"
        let int = d == .sqlite ? "INTEGER" : "BIGINT"
        var v1 = [
            """
            CREATE TABLE IF NOT EXISTS sessions (
              id TEXT PRIMARY KEY, agent TEXT, client TEXT, provider TEXT, model TEXT, external_id TEXT,
              started_at TEXT NOT NULL, last_activity_at TEXT NOT NULL, turn_count \(int) NOT NULL DEFAULT 0,
              input_tokens \(int) NOT NULL DEFAULT 0, output_tokens \(int) NOT NULL DEFAULT 0,
              cache_read_tokens \(int) NOT NULL DEFAULT 0, cache_write_tokens \(int) NOT NULL DEFAULT 0,
              cost_usd \(real), intent TEXT, git_context TEXT, prompt_hash TEXT, system_hash TEXT,
              last_chain_hash TEXT NOT NULL DEFAULT '', last_activity_ns \(int) NOT NULL DEFAULT 0)
            """,
            """
            CREATE TABLE IF NOT EXISTS turns (
              id \(id), capture_id TEXT NOT NULL UNIQUE, session_id TEXT, seq \(int), started_at TEXT NOT NULL,
              ttfb_ms \(real), duration_ms \(real), provider TEXT NOT NULL, endpoint TEXT, model TEXT, method TEXT,
              host TEXT, path TEXT, status \(int), streamed \(int) NOT NULL DEFAULT 0, outcome TEXT NOT NULL,
              is_model_turn \(int) NOT NULL DEFAULT 0, is_prewarm \(int) NOT NULL DEFAULT 0,
              request_sha256 TEXT, response_sha256 TEXT, request_bytes \(int), response_bytes \(int),
              input_tokens \(int) NOT NULL DEFAULT 0, output_tokens \(int) NOT NULL DEFAULT 0,
              cache_read_tokens \(int) NOT NULL DEFAULT 0, cache_write_tokens \(int) NOT NULL DEFAULT 0,
              cache_write_5m_tokens \(int) NOT NULL DEFAULT 0, cache_write_1h_tokens \(int) NOT NULL DEFAULT 0,
              reasoning_tokens \(int) NOT NULL DEFAULT 0, cost_usd \(real), stop_reason TEXT, usage_json TEXT,
              prompt_hash TEXT, conversation_hash TEXT, response_id TEXT, previous_response_id TEXT,
              client_session_id TEXT, session_cue TEXT, parse_error TEXT, redactions TEXT, client_pid \(int),
              client_executable TEXT, client_cwd TEXT, user_agent TEXT, metadata_path TEXT,
              chain_hash TEXT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS turns_session ON turns(session_id, seq)",
            "CREATE INDEX IF NOT EXISTS turns_started ON turns(started_at)",
            """
            CREATE TABLE IF NOT EXISTS tool_calls (
              id \(id), turn_id \(int) NOT NULL, session_id TEXT, seq \(int) NOT NULL, call_id TEXT, name TEXT,
              arguments TEXT, kind TEXT)
            """,
            "CREATE INDEX IF NOT EXISTS tool_calls_turn ON tool_calls(turn_id)",
            """
            CREATE TABLE IF NOT EXISTS tool_results (
              id \(id), turn_id \(int) NOT NULL, session_id TEXT, call_id TEXT, is_error \(int) NOT NULL DEFAULT 0,
              content TEXT)
            """,
            """
            CREATE TABLE IF NOT EXISTS anomaly_events (
              id \(id), turn_id \(int), session_id TEXT, kind TEXT NOT NULL, rule TEXT NOT NULL, detail TEXT,
              detected_at TEXT NOT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS access_audit_log (
              id \(id), at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT, detail TEXT)
            """,
            """
            CREATE TABLE IF NOT EXISTS dead_letters (
              id \(id), capture_id TEXT, delivery_seq \(int), error TEXT NOT NULL, record TEXT, at TEXT NOT NULL)
            """,
        ]
        v1 += appendOnlyTables.flatMap { appendOnlyTriggers(table: $0, dialect: d) }
        return [(1, v1)]
    }

    /// UPDATE, DELETE (and in PostgreSQL TRUNCATE, which row triggers do not see) raise an error.
    static func appendOnlyTriggers(table: String, dialect: Dialect) -> [String] {
        switch dialect {
        case .sqlite:
            return ["UPDATE", "DELETE"].map { op in
                """
                CREATE TRIGGER IF NOT EXISTS \(table)_no_\(op.lowercased()) BEFORE \(op) ON \(table)
                BEGIN SELECT RAISE(ABORT, '\(table) is append-only'); END
                """
            }
        case .postgres:
            return [
                """
                CREATE OR REPLACE FUNCTION flightlog_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$
                """,
                "DROP TRIGGER IF EXISTS \(table)_append_only ON \(table)",
                """
                CREATE TRIGGER \(table)_append_only BEFORE UPDATE OR DELETE ON \(table)
                FOR EACH ROW EXECUTE FUNCTION flightlog_append_only()
                """,
                "DROP TRIGGER IF EXISTS \(table)_no_truncate ON \(table)",
                """
                CREATE TRIGGER \(table)_no_truncate BEFORE TRUNCATE ON \(table)
                FOR EACH STATEMENT EXECUTE FUNCTION flightlog_append_only()
                """,
            ]
        }
    }
}
