import Crypto
import Foundation

/// The hash chain of a session's turns (DESIGN.md: `turns.chain_hash` links each turn to the previous turn
/// of its session). sessiond writes it; `flightlog verify` recomputes it from the stored columns, so an edit
/// made by someone who bypassed the append-only triggers shows as a broken link.
public enum TurnChain {
    public static func hash(previous: String, captureID: String, requestSHA256: String, responseSHA256: String,
                            inputTokens: Int64, outputTokens: Int64, cacheReadTokens: Int64, cacheWriteTokens: Int64,
                            model: String?, status: Int?, outcome: String) -> String {
        var input = [previous, captureID, requestSHA256, responseSHA256, "\(inputTokens)", "\(outputTokens)",
                     "\(cacheReadTokens)", "\(cacheWriteTokens)", model ?? "", "\(status ?? 0)", outcome].joined(separator: "|")
        // Hot (once per turn): hex by table, not String(format:) per byte.
        let digest = input.withUTF8 { SHA256.hash(data: $0) }
        return Hex.string(digest)
    }

}
