import Logging
import Shared

extension Sessiond {
    /// sessiond's part of a reload (``ReloadPolicy/sessiond``): the idle timeout and the price table. The price
    /// file is read again even when its path did not change, so editing it and sending SIGHUP takes effect; a
    /// file that does not load refuses the whole reload, and sessiond keeps what it runs on.
    static func applyLive(_ candidate: Configuration, _ plan: ConfigurationReloadPlan, to processor: RecordProcessor,
                          logger: Logger) async throws {
        var prices: PriceTable?
        if plan.appliesLive("sessions.price_file") || candidate.sessions.priceFile != nil {
            prices = try PriceTable.load(overrides: candidate.sessions.priceFile)
        }
        let idle = plan.appliesLive("sessions.idle_timeout") ? nanoseconds(candidate.sessions.idleTimeout) : nil
        await processor.applyLive(idleTimeoutNanoseconds: idle, prices: prices)
        if prices != nil, !plan.appliesLive("sessions.price_file") {
            logger.info("price file re-read", metadata: ["path": "\(candidate.sessions.priceFile ?? "")"])
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
