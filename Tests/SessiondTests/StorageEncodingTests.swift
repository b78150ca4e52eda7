import Foundation
import Testing

@testable import sessiond

/// What the stores encode by hand (for speed) must still be exactly right: timestamps and JSON row sets.
@Suite struct StorageEncodingTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1_790_000_000_123_456_789, "2026-09-21T14:13:20.123Z"),
        (951_782_400_999_000_000, "2000-02-29T00:00:00.999Z"),
    ])
    func timestampsAreISO8601WithMilliseconds(nanoseconds: Int64, text: String) {
        #expect(Timestamp.string(nanoseconds: nanoseconds) == text)
    }

    @Test func rowSetsRoundTripThroughJSON() throws {
        let awkward = "quote \" backslash \\ newline \n tab \t cr \r bell \u{7} nul \u{0} emoji 🧪 é"
        let json = PostgresRows.json(columns: ["a", "b", "c", "d"],
                                     rows: [[.text(awkward), .int(-42), .double(0.125), .null],
                                            [.text(""), .int(Int64.max), .double(.nan), .text("x")]])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(rows.count == 2)
        // U+0000 becomes U+FFFD (PostgreSQL text cannot hold it); everything else comes back as it was.
        #expect(rows[0]["a"] as? String == awkward.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}"))
        #expect((rows[0]["b"] as? NSNumber)?.int64Value == -42)
        #expect((rows[0]["c"] as? NSNumber)?.doubleValue == 0.125)
        #expect(rows[0]["d"] is NSNull)
        #expect((rows[1]["b"] as? NSNumber)?.int64Value == Int64.max)
        #expect(rows[1]["c"] is NSNull, "a non-finite number is not JSON: it is stored as NULL")
    }

    @Test func sessionTotalsAddUpPerSessionInFirstTouchedOrder() {
        func turn(_ session: String, model: Bool, cost: Double?, chain: String) -> TurnWrite {
            TurnWrite(captureID: chain, sessionID: session, newSession: nil, seq: 1, values: [:], toolCalls: [], toolResults: [],
                      anomalies: [],
                      sessionDelta: SessionDelta(countsAsTurn: model, lastActivityAt: "t_\(chain)", lastActivityNs: 1,
                                                 model: "m", usage: TokenUsage(input: 1, output: 2, cacheRead: 3,
                                                                               cacheWrite5m: 4, cacheWrite1h: 5),
                                                 cost: cost, chainHash: chain, systemHash: nil))
        }
        let rows = TurnRows.totals([turn("b", model: true, cost: nil, chain: "b1"), turn("a", model: true, cost: 0.5, chain: "a1"),
                                    turn("b", model: false, cost: 0.25, chain: "b2")])
        #expect(rows.map { $0[0] } == [.text("b"), .text("a")])
        // b: one model turn and a side request; cache writes of both kinds in one column; its last link.
        #expect(rows[0] == [.text("b"), .int(1), .int(2), .int(4), .int(6), .int(18), .double(0.25), .text("t_b2"), .int(1),
                            .text("m"), .text("b2"), .null, .null, .null])
        #expect(rows[1][6] == .double(0.5))
    }

    @Test func aSessionsIntentComesFromItsFirstModelTurnThatHasOne() {
        func turn(_ chain: String, intent: String?) -> TurnWrite {
            TurnWrite(captureID: chain, sessionID: "s", newSession: nil, seq: 1, values: [:], toolCalls: [], toolResults: [],
                      anomalies: [],
                      sessionDelta: SessionDelta(lastActivityAt: "t", lastActivityNs: 1, model: nil, usage: TokenUsage(),
                                                 cost: nil, chainHash: chain, systemHash: nil, intent: intent,
                                                 promptHash: intent.map { "h_" + $0 }))
        }
        // A prewarm (no prompt), then the first real turn, then a later one: the first prompt is the intent.
        let rows = TurnRows.totals([turn("p", intent: nil), turn("t1", intent: "fix the tests"), turn("t2", intent: "later")])
        let columns = TurnRows.totalColumns
        #expect(rows[0][columns.firstIndex(of: "intent") ?? 0] == .text("fix the tests"))
        #expect(rows[0][columns.firstIndex(of: "prompt_hash") ?? 0] == .text("h_fix the tests"))
    }
}
