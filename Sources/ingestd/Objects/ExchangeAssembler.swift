import Foundation
import Logging
import NIOCore
import Shared
#if canImport(Glibc)
import Glibc
#endif

/// Turns durable frames into finished exchanges: opens object writers at the first body byte, feeds them
/// chunk by chunk, and at the end frame writes the metadata file and returns the ``CaptureRecord`` to
/// deliver. Replaying frames it has seen is harmless: objects are content-addressed and records of
/// delivered exchanges are skipped by the caller.
final class ExchangeAssembler {
    private final class Open {
        var begin: ExchangeBegin
        var response: ResponseHead?
        var request: ObjectWriter?
        var responseBody: ObjectWriter?
        var messages: [WebSocketMessageReference] = []
        var gatewayID: String
        var lastActivity: Date
        var segments: Set<UInt64> = []

        init(begin: ExchangeBegin, gatewayID: String) {
            self.begin = begin
            self.gatewayID = gatewayID
            self.lastActivity = Date()
        }
    }

    private let layout: ObjectStoreLayout
    private let format: CompressionFormat
    private let maxBodyBytes: Int
    private let logger: Logger
    private var open: [UUID: Open] = [:]

    init(state: StateDirectory, format: CompressionFormat, maxBodyBytes: Int, logger: Logger) {
        self.layout = ObjectStoreLayout(state: state)
        self.format = format
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    var openCount: Int { open.count }
    /// The files of finished exchanges not yet durable: ``commitStaged()`` makes them so, and a finished
    /// exchange must not be recorded for delivery before.
    let staged = StoreBatch()
    /// Objects written, and bodies found already stored (deduplicated), since start.
    var objectsWritten: UInt64 { staged.objectsWritten }
    var objectsDeduplicated: UInt64 { staged.objectsDeduplicated }
    /// Encodes metadata files; kept, since making one per exchange showed in profiles.
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return encoder
    }()

    /// Makes every finished exchange's objects and metadata durable (see ``StoreBatch``).
    func commitStaged() throws { try staged.commit() }

    /// Finishes `writer` into the staged batch.
    private func finished(_ writer: ObjectWriter) throws -> BodyReference {
        try writer.finish(staging: staged)
    }

    /// A finished exchange and the first WAL segment that held one of its frames.
    struct Finished {
        var record: CaptureRecord
        var firstSegment: UInt64
    }

    /// The lowest segment an unfinished exchange still needs.
    var lowestSegmentInUse: UInt64? { open.values.compactMap { $0.segments.min() }.min() }

    /// Applies one durable frame; returns a finished record when the frame ends an exchange.
    func apply(_ frame: CaptureFrame, gatewayID: String, segment: UInt64) throws -> Finished? {
        switch frame.kind {
        case .exchangeBegin:
            let begin = try frame.decodeJSON(ExchangeBegin.self)
            let exchange = Open(begin: begin, gatewayID: gatewayID)
            exchange.segments.insert(segment)
            open[frame.exchangeID] = exchange
            return nil
        case .requestBody, .responseBody, .responseHead, .webSocketMessage, .exchangeEnd:
            guard let exchange = open[frame.exchangeID] else {
                // Frames of an exchange whose begin was in a segment already finished and deleted: it was
                // delivered, so this is a replay.
                return nil
            }
            exchange.segments.insert(segment)
            exchange.lastActivity = Date()
            return try continueExchange(exchange, frame)
        default:
            return nil
        }
    }

    private func continueExchange(_ exchange: Open, _ frame: CaptureFrame) throws -> Finished? {
        switch frame.kind {
        case .requestBody:
            if exchange.request == nil {
                exchange.request = try ObjectWriter(layout: layout, kind: .request, format: format, maxBytes: maxBodyBytes)
            }
            try frame.payload.withUnsafeReadableBytes { try exchange.request?.write($0) }
        case .responseHead:
            exchange.response = try frame.decodeJSON(ResponseHead.self)
        case .responseBody:
            if exchange.responseBody == nil {
                exchange.responseBody = try ObjectWriter(layout: layout, kind: .response, format: format, maxBytes: maxBodyBytes)
            }
            try frame.payload.withUnsafeReadableBytes { try exchange.responseBody?.write($0) }
        case .webSocketMessage:
            var payload = frame.payload
            guard let direction = payload.readInteger(as: UInt8.self).flatMap(WebSocketDirection.init(rawValue:)),
                  let opcode = payload.readInteger(as: UInt8.self)
            else { throw CaptureFrameError(.malformedPayload, "websocket message without direction and opcode") }
            let writer = try ObjectWriter(layout: layout, kind: direction == .clientToUpstream ? .request : .response,
                                          format: format, maxBytes: maxBodyBytes)
            try payload.withUnsafeReadableBytes { try writer.write($0) }
            exchange.messages.append(WebSocketMessageReference(direction: direction, opcode: opcode,
                                                               timestamp: frame.timestamp, body: try finished(writer)))
        case .exchangeEnd:
            let end = try frame.decodeJSON(ExchangeEnd.self)
            return try finish(frame.exchangeID, end: end)
        default:
            break
        }
        return nil
    }

    /// Gateways with an unfinished exchange.
    var gatewaysWithOpenExchanges: Set<String> { Set(open.values.map(\.gatewayID)) }

    /// Closes every exchange of `gatewayID` (or all, with nil) that is idle since `before` as `gateway_lost`.
    func closeLost(gatewayID: String?, idleSince before: Date) -> [Finished] {
        let lost = open.filter { (gatewayID == nil || $0.value.gatewayID == gatewayID) && $0.value.lastActivity < before }
        if !lost.isEmpty { logger.notice("closing exchanges whose gateway vanished", metadata: ["count": "\(lost.count)"]) }
        return lost.compactMap { id, exchange in
            let end = ExchangeEnd(
                outcome: .gatewayLost, error: "the gateway went away before the exchange ended",
                status: exchange.response?.status, endedAt: CaptureFrame.now(), timeToFirstByte: nil,
                requestBytes: exchange.request?.receivedBytes ?? 0,
                responseBytes: exchange.responseBody?.receivedBytes ?? 0,
                requestWireSHA256: "", responseWireSHA256: "", redactions: [],
                streamed: Self.isEventStream(exchange.response), webSocket: !exchange.messages.isEmpty)
            do {
                return try finish(id, end: end)
            } catch {
                logger.error("cannot close a lost exchange", metadata: ["exchange_id": "\(id)", "error": "\(error)"])
                return nil
            }
        }
    }

    /// Closes the bodies and stages them and the metadata file in ``staged``. The exchange stays open until
    /// all of it succeeded, so a failure (disk full) leaves it owed and applying its end again later
    /// finishes it; once staged, the batch owes it until it commits.
    private func finish(_ id: UUID, end: ExchangeEnd) throws -> Finished? {
        guard let exchange = open[id] else { return nil }
        // Counted once: a writer that finished before a failed attempt returns its reference again.
        let request = try exchange.request.map { try finished($0) }
        let response = try exchange.responseBody.map { try finished($0) }
        let name = Self.metadataName(startedAt: exchange.begin.startedAt, id: id)
        let record = CaptureRecord(captureID: id, begin: exchange.begin, response: exchange.response, end: end,
                                   requestBody: request, responseBody: response,
                                   webSocketMessages: exchange.messages, metadataPath: "captures/\(name)")
        try writeMetadata(record, name: name)
        open[id] = nil
        return Finished(record: record, firstSegment: exchange.segments.min() ?? 0)
    }

    private func writeMetadata(_ record: CaptureRecord, name: String) throws {
        let data = try encoder.encode(record)
        let directory = layout.state.capturesDirectory
        staged.stage(StoreBatch.Staged(directory: directory, name: name, policy: .replace,
                                       temporaryDirectory: directory, bytes: [UInt8](data)))
    }

    /// Removes the temporary files a crash left in the store (objects being written, metadata not yet
    /// renamed): nothing refers to them, and recovery writes whatever they were again. Returns how many.
    func removeTemporaries() -> Int {
        var removed = 0
        let directories = [ObjectKind.request, .response].map { "\(layout.state.objectsDirectory)/\($0.rawValue)" }
            + [layout.state.capturesDirectory]
        for directory in directories {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where name.hasPrefix(".tmp-") || (name.hasPrefix(".") && name.hasSuffix(".tmp")) || name.hasPrefix(".dat.nosync") {
                if unlink("\(directory)/\(name)") == 0 { removed += 1 }
            }
        }
        return removed
    }

    /// Whether the response was a server-sent event stream (what `streamed` means for a lost exchange).
    static func isEventStream(_ head: ResponseHead?) -> Bool {
        head?.headers.contains { $0.count == 2 && $0[0].lowercased() == "content-type"
            && $0[1].lowercased().hasPrefix("text/event-stream") } ?? false
    }

    /// `20261124T093622Z_<uuid>.json`, from the exchange's start.
    static func metadataName(startedAt: Int64, id: UUID) -> String {
        var t = time_t(startedAt / 1_000_000_000)
        var tm = tm()
        gmtime_r(&t, &tm)
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                           tm.tm_hour, tm.tm_min, tm.tm_sec)
        return "\(stamp)_\(id.uuidString.lowercased()).json"
    }
}
