import Foundation

/// USD per million tokens by model prefix, each with the date it takes effect; the longest prefix wins,
/// then the newest entry not after the turn's date. Cache reads and writes are priced as their own kinds,
/// never as input (tokens are counted once, DESIGN.md "The database").
struct PriceTable: Sendable {
    struct Price: Codable, Equatable, Sendable {
        var model: String
        var effectiveFrom: String
        var input: Double
        var output: Double
        var cacheRead: Double?
        var cacheWrite5m: Double?
        var cacheWrite1h: Double?
        /// Above this many prompt tokens (input + cache) the tier prices apply (Gemini Pro's long context).
        var tierThreshold: Int64?
        var tierInput: Double?
        var tierOutput: Double?
        var tierCacheRead: Double?
        var tierCacheWrite5m: Double?
        var tierCacheWrite1h: Double?

        enum CodingKeys: String, CodingKey {
            case model
            case effectiveFrom = "effective_from"
            case input, output
            case cacheRead = "cache_read"
            case cacheWrite5m = "cache_write_5m"
            case cacheWrite1h = "cache_write_1h"
            case tierThreshold = "tier_threshold"
            case tierInput = "tier_input"
            case tierOutput = "tier_output"
            case tierCacheRead = "tier_cache_read"
            case tierCacheWrite5m = "tier_cache_write_5m"
            case tierCacheWrite1h = "tier_cache_write_1h"
        }
    }

    private(set) var prices: [Price]

    /// The shipped table (Sources/sessiond/Pricing/prices.json, compiled in), plus `sessions.price_file`.
    static func load(overrides path: String?) throws -> PriceTable {
        var table = try PriceTable(json: Array(DefaultPrices.json.utf8))
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SessiondError(.configuration, "sessions.price_file: cannot read \(path)")
            }
            do {
                table.merge(try PriceTable(json: [UInt8](data)))
            } catch {
                throw SessiondError(.configuration, "sessions.price_file: \(path) is not a price table: \(error)")
            }
        }
        return table
    }

    init(json: [UInt8]) throws {
        prices = try JSONDecoder().decode([Price].self, from: Data(json))
    }

    init(prices: [Price]) {
        self.prices = prices
    }

    /// Entries of `other` replace ours with the same model and date, and add to the rest.
    mutating func merge(_ other: PriceTable) {
        for price in other.prices {
            prices.removeAll { $0.model == price.model && $0.effectiveFrom == price.effectiveFrom }
            prices.append(price)
        }
    }

    func price(for model: String, on date: String) -> Price? {
        let lower = model.lowercased()
        let candidates = prices.filter { lower.hasPrefix($0.model.lowercased()) && $0.effectiveFrom <= date }
        let longest = candidates.map(\.model.count).max()
        return candidates.filter { $0.model.count == longest }.max { $0.effectiveFrom < $1.effectiveFrom }
    }

    /// The cost of `usage`, or nil when the model has no price (never 0 for an unknown model).
    func cost(model: String?, usage: TokenUsage, date: String) -> Double? {
        guard let model, let p = price(for: model, on: date) else { return nil }
        let prompt = usage.input + usage.cacheRead + usage.cacheWrite
        let tiered = p.tierThreshold.map { prompt > $0 } ?? false
        let input = tiered ? (p.tierInput ?? p.input) : p.input
        let output = tiered ? (p.tierOutput ?? p.output) : p.output
        let cacheRead = tiered ? (p.tierCacheRead ?? p.cacheRead ?? input) : (p.cacheRead ?? input)
        let write5m = (tiered ? p.tierCacheWrite5m : nil) ?? p.cacheWrite5m ?? input
        let write1h = (tiered ? p.tierCacheWrite1h : nil) ?? p.cacheWrite1h ?? write5m
        let total = Double(usage.input) * input + Double(usage.output) * output + Double(usage.cacheRead) * cacheRead
            + Double(usage.cacheWrite5m) * write5m + Double(usage.cacheWrite1h) * write1h
        return total / 1_000_000
    }
}
