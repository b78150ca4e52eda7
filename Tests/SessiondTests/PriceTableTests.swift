import Foundation
import Testing

@testable import sessiond

/// Cost arithmetic on the shipped table: every token kind at its own price, tiers, dates, overrides.
@Suite struct PriceTableTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var model: String
        var date = "2025-12-01"
        var usage: TokenUsage
        /// USD.
        var cost: Double
        var testDescription: String { name }
    }

    static let million: Int64 = 1_000_000

    static let cases: [Case] = [
        // One million of each kind alone costs exactly that kind's price (claude-haiku-4-5: no long-context tier).
        Case(name: "input", model: "claude-haiku-4-5-20251001", usage: TokenUsage(input: million), cost: 1),
        Case(name: "output", model: "claude-haiku-4-5-20251001", usage: TokenUsage(output: million), cost: 5),
        Case(name: "cache read", model: "claude-haiku-4-5-20251001", usage: TokenUsage(cacheRead: million), cost: 0.10),
        Case(name: "cache write 5m", model: "claude-haiku-4-5-20251001", usage: TokenUsage(cacheWrite5m: million), cost: 1.25),
        Case(name: "cache write 1h", model: "claude-haiku-4-5-20251001", usage: TokenUsage(cacheWrite1h: million), cost: 2),
        // Reasoning is inside output: it is not charged again.
        Case(name: "reasoning is not added to output", model: "gpt-5-2025-08-07",
             usage: TokenUsage(output: million, reasoning: 600_000), cost: 10),
        // Cached input is priced as cache, not also as input (the double count other tools make).
        Case(name: "openai cached input", model: "gpt-4o-2024-08-06",
             usage: TokenUsage(input: 200_000, cacheRead: 800_000), cost: 0.2 * 2.5 + 0.8 * 1.25),
        Case(name: "all kinds at once", model: "claude-opus-4-5-20251101",
             usage: TokenUsage(input: 1000, output: 2000, cacheRead: 30_000, cacheWrite5m: 4000, cacheWrite1h: 5000),
             cost: (1000 * 5 + 2000 * 25 + 30_000 * 0.5 + 4000 * 6.25 + 5000 * 10) / 1e6),
        // Long context: above 200k prompt tokens (input + cache) every kind moves to its tier price.
        Case(name: "sonnet below the tier", model: "claude-sonnet-4-20250514",
             usage: TokenUsage(input: 100_000, output: 1000, cacheRead: 100_000), cost: (100_000 * 3 + 1000 * 15 + 100_000 * 0.3) / 1e6),
        Case(name: "sonnet above the tier, cache counts toward it", model: "claude-sonnet-4-20250514",
             usage: TokenUsage(input: 100_000, output: 1000, cacheRead: 90_000, cacheWrite5m: 10_000, cacheWrite1h: 1000),
             cost: (100_000 * 6 + 1000 * 22.5 + 90_000 * 0.6 + 10_000 * 7.5 + 1000 * 12) / 1e6),
        Case(name: "gemini pro above the tier", model: "gemini-2.5-pro", usage: TokenUsage(input: 300_000, output: million),
             cost: 0.3 * 2.5 + 15),
        // The longest prefix wins.
        Case(name: "gpt-4o-mini is not gpt-4o", model: "gpt-4o-mini-2024-07-18", usage: TokenUsage(input: million), cost: 0.15),
        Case(name: "gpt-4.1-nano is not gpt-4.1", model: "gpt-4.1-nano", usage: TokenUsage(input: million), cost: 0.1),
        Case(name: "o3-mini is not o3", model: "o3-mini-2025-01-31", usage: TokenUsage(input: million), cost: 1.1),
        Case(name: "flash-lite is not flash", model: "gemini-2.5-flash-lite", usage: TokenUsage(input: million), cost: 0.1),
        Case(name: "opus 4.5 is not opus 4", model: "claude-opus-4-5-20251101", usage: TokenUsage(input: million), cost: 5),
        Case(name: "opus 4.1 is opus 4", model: "claude-opus-4-1-20250805", usage: TokenUsage(input: million), cost: 15),
    ]

    @Test(arguments: cases)
    func costs(_ c: Case) throws {
        let cost = try #require(try PriceTable.load(overrides: nil).cost(model: c.model, usage: c.usage, date: c.date))
        #expect(abs(cost - c.cost) < 1e-9, "\(cost) != \(c.cost)")
    }

    @Test(arguments: [nil, "claude-contract", "my-local-llama", ""] as [String?])
    func anUnknownModelHasNoCostNeverZero(model: String?) throws {
        #expect(try PriceTable.load(overrides: nil).cost(model: model, usage: TokenUsage(input: 10, output: 10), date: "2025-12-01") == nil)
    }

    @Test func thePriceInForceOnTheTurnsDateApplies() throws {
        let table = try PriceTable.load(overrides: nil)
        // Before opus 4.5's own entry takes effect the longest prefix in force is opus 4's.
        #expect(table.price(for: "claude-opus-4-5-20251101", on: "2025-11-23")?.model == "claude-opus-4")
        #expect(table.price(for: "claude-opus-4-5-20251101", on: "2025-11-24")?.model == "claude-opus-4-5")
        #expect(table.price(for: "gpt-5", on: "2020-01-01") == nil)
    }

    @Test func theShippedTableIsWellFormed() throws {
        let prices = try PriceTable.load(overrides: nil).prices
        #expect(prices.count >= 20)
        var seen: Set<String> = []
        for p in prices {
            #expect(p.effectiveFrom.count == 10 && p.effectiveFrom.split(separator: "-").count == 3, "\(p.model)")
            #expect(p.input > 0 && p.output > 0, "\(p.model)")
            #expect((p.cacheRead ?? 0) < p.input, "\(p.model): a cache read costs less than input")
            #expect(seen.insert("\(p.model)@\(p.effectiveFrom)").inserted, "\(p.model) listed twice for one date")
        }
        // The JSON file beside the code and the compiled-in copy are the same table.
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/sessiond/Pricing/prices.json")
        #expect(try PriceTable(json: Array(Data(contentsOf: file))).prices == prices)
    }

    @Test func aPriceFileOverridesAndExtendsTheShippedTable() throws {
        let path = NSTemporaryDirectory() + "prices-\(UUID().uuidString).json"
        defer { unlink(path) }
        try #"""
            [{"model": "gpt-4o", "effective_from": "2026-01-01", "input": 2, "output": 8, "cache_read": 1},
             {"model": "acme-coder", "effective_from": "2025-01-01", "input": 0.5, "output": 1.5}]
            """#.write(toFile: path, atomically: true, encoding: .utf8)
        let table = try PriceTable.load(overrides: path)
        let usage = TokenUsage(input: Self.million)
        #expect(table.cost(model: "gpt-4o-2024-08-06", usage: usage, date: "2025-12-31") == 2.5)
        #expect(table.cost(model: "gpt-4o-2024-08-06", usage: usage, date: "2026-01-02") == 2)
        #expect(table.cost(model: "acme-coder-7b", usage: usage, date: "2026-01-02") == 0.5)
    }

    @Test(arguments: ["[{\"model\": \"x\"}]", "not json", "{}"])
    func aBadPriceFileIsAnErrorNamingTheKey(contents: String) throws {
        let path = NSTemporaryDirectory() + "prices-\(UUID().uuidString).json"
        defer { unlink(path) }
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        for candidate in [path, path + ".missing"] {
            let error = #expect(throws: (any Error).self) { try PriceTable.load(overrides: candidate) }
            #expect(error.map { "\($0)".contains("sessions.price_file") } == true, "\(String(describing: error))")
        }
    }
}
