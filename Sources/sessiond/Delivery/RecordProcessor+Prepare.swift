import Foundation
import NIOCore
import NIOPosix
import Shared

extension RecordProcessor {
    /// What is worked out of a record without the session state: its bodies read and decompressed, its
    /// exchanges parsed, the hashes of their cues, its request scanned for secrets. Pure, so a batch's records
    /// are prepared in parallel on the thread pool (file reads and the scans stay off the actor and the
    /// cooperative threads).
    struct PreparedRecord: Sendable {
        var parsed: [ParsedExchange]
        /// One per exchange in `parsed`.
        var hashes: [SessionTracker.TurnHashes]
        var secrets: [AnomalyDetector.Anomaly]
    }

    /// A delivered batch worked out without the session state or the database (``RecordProcessor/prepare(_:)``):
    /// what `RecordProcessor.process(_: PreparedBatch)` commits. Preparing the next batch may run while
    /// the one before it is written; only the commits are in order.
    struct PreparedBatch: Sendable {
        struct Entry: Sendable {
            var seq: UInt64
            /// The record as delivered (for a dead letter).
            var payload: ByteBuffer
            /// nil when the payload is not a capture record; `decodeError` says why.
            var record: CaptureRecord?
            var decodeError: String
            /// The record's capture id, lowercased (the `turns.capture_id` of its first turn).
            var captureID: String
            var prepared: PreparedRecord
        }

        var entries: [Entry]
        var lastSequence: UInt64? { entries.last?.seq }
    }

    /// Decodes and prepares `batch` a contiguous slice per core, off the actor; the entries are in the batch's
    /// order. Replays (records already written) are prepared too: which they are is known only when the
    /// batches before have committed.
    nonisolated func prepare(_ batch: [(UInt64, ByteBuffer)]) async -> PreparedBatch {
        PreparedBatch(entries: await Self.inParallel(batch) { [layout, detector] part in
            let decoder = JSONDecoder()
            let reader = ObjectReader(layout: layout)
            return part.map { seq, payload in
                Self.entry(seq: seq, payload: payload, decoder: decoder, reader: reader, detector: detector)
            }
        })
    }

    /// `work` over contiguous slices of `items`, one per core, on the thread pool; the results in `items`' order.
    static func inParallel<Item: Sendable, Result: Sendable>(
        _ items: [Item], _ work: @escaping @Sendable (ArraySlice<Item>) -> [Result]
    ) async -> [Result] {
        guard !items.isEmpty else { return [] }
        let slices = max(1, min(System.coreCount, items.count))
        let size = (items.count + slices - 1) / slices
        return await withTaskGroup(of: (Int, [Result]).self) { group in
            for start in stride(from: 0, to: items.count, by: size) {
                let part = items[start..<min(start + size, items.count)]
                group.addTask {
                    let run: @Sendable () -> [Result] = { work(part) }
                    return (start, (try? await NIOThreadPool.singleton.runIfActive(run)) ?? run())
                }
            }
            var parts: [(Int, [Result])] = []
            for await part in group { parts.append(part) }
            return parts.sorted { $0.0 < $1.0 }.flatMap(\.1)
        }
    }

    private static func entry(seq: UInt64, payload: ByteBuffer, decoder: JSONDecoder, reader: ObjectReader,
                              detector: AnomalyDetector) -> PreparedBatch.Entry {
        let none = PreparedRecord(parsed: [], hashes: [], secrets: [])
        do {
            let record = try decoder.decode(CaptureRecord.self, from: Data(payload.readableBytesView))
            return PreparedBatch.Entry(seq: seq, payload: payload, record: record, decodeError: "",
                                       captureID: record.captureID.uuidString.lowercased(),
                                       prepared: prepare(record, reader: reader, detector: detector))
        } catch {
            return PreparedBatch.Entry(seq: seq, payload: payload, record: nil, decodeError: "\(error)", captureID: "",
                                       prepared: none)
        }
    }

    static func prepare(_ record: CaptureRecord, reader: ObjectReader, detector: AnomalyDetector) -> PreparedRecord {
        let requestHeaders = headers(record.begin.headers)
        let responseHeaders = headers(record.response?.headers ?? [])
        let request = (try? record.requestBody.map { try reader.read($0) }) ?? []
        let response = (try? record.responseBody.map { try reader.read($0) }) ?? []
        var missing: [String] = []
        if record.requestBody != nil && request.isEmpty && (record.requestBody?.size ?? 0) > 0 { missing.append("request object missing") }
        if record.responseBody != nil && response.isEmpty && (record.responseBody?.size ?? 0) > 0 { missing.append("response object missing") }
        let messages = record.webSocketMessages.map { ($0.direction, (try? reader.read($0.body)) ?? []) }
        let input = ExchangeInput(
            host: record.begin.host.lowercased(), path: record.begin.path, method: record.begin.method,
            requestHeaders: requestHeaders, responseHeaders: responseHeaders, status: record.end.status ?? record.response?.status,
            request: request, response: response, webSocketMessages: messages,
            incomplete: record.end.outcome != .complete && record.end.outcome != .webSocketClosed)
        var parsed = ProviderRouter.parse(input)
        for i in parsed.indices { parsed[i].parseErrors += missing }
        let secrets = request.isEmpty ? [] : detector.secrets(request: request, redactedRules: record.end.redactions)
        return PreparedRecord(parsed: parsed, hashes: parsed.map(SessionTracker.TurnHashes.init), secrets: secrets)
    }

    static func headers(_ pairs: [HeaderPair]) -> [String: String] {
        var out: [String: String] = [:]
        for pair in pairs where pair.count == 2 { out[pair[0].lowercased()] = pair[1] }
        return out
    }
}
