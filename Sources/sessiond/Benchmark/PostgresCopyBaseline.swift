import NIOCore
import PostgresNIO

/// The benchmark's ceiling: the same turn and tool-call rows through `COPY … FROM STDIN` (text format) into
/// tables made `LIKE` turns and tool_calls (same columns, defaults and indexes; no triggers).
extension PostgresTurnStore {
    func prepareCopyBaseline() async throws {
        try await client.query("DROP TABLE IF EXISTS bench_copy_turns, bench_copy_tool_calls")
        try await client.query("CREATE TABLE bench_copy_turns (LIKE turns INCLUDING ALL)")
        try await client.query("CREATE TABLE bench_copy_tool_calls (LIKE tool_calls INCLUDING ALL)")
    }

    func copyBaseline(_ turns: [TurnWrite]) async throws {
        guard let first = turns.first else { return }
        let columns = first.values.keys.sorted()
        let logger = self.logger
        try await client.withConnection { connection in
            try await connection.copyFrom(table: "bench_copy_turns", columns: columns, logger: logger) { writer in
                var buffer = ByteBuffer()
                for turn in turns {
                    PostgresRows.appendCopyRow(columns.map { turn.values[$0] ?? .null }, to: &buffer)
                    if buffer.readableBytes > 1 << 20 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
            }
            try await connection.copyFrom(
                table: "bench_copy_tool_calls", columns: ["turn_id", "session_id", "seq", "call_id", "name", "arguments", "kind"],
                logger: logger
            ) { writer in
                var buffer = ByteBuffer()
                for (i, turn) in turns.enumerated() {
                    for (n, call) in turn.toolCalls.enumerated() {
                        PostgresRows.appendCopyRow([.int(Int64(i + 1)), .optional(turn.sessionID), .int(Int64(n + 1)), .text(call.callID),
                                        .text(call.name), .text(call.arguments), .text(call.kind)], to: &buffer)
                    }
                    if buffer.readableBytes > 1 << 20 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
            }
        }
    }
}
