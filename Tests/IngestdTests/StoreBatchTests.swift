import Foundation
import Logging
import Shared
import Testing

@testable import ingestd

/// Files of finished exchanges become durable together (``StoreBatch``): none is visible under its final
/// name before the commit, a crash before it leaves only temporaries the recovery sweep removes, and an
/// object that exists is kept.
@Suite struct StoreBatchTests {
    static func finish(_ exchange: TestExchange, into assembler: ExchangeAssembler) throws -> CaptureRecord? {
        var finished: ExchangeAssembler.Finished?
        for frame in try TestExchange.interleave([exchange], gatewayID: "gw/1") {
            finished = try assembler.apply(frame, gatewayID: "gw/1", segment: 1) ?? finished
        }
        return finished?.record
    }

    static func assembler(_ state: StateDirectory) throws -> ExchangeAssembler {
        try StateDirectory.ensureDirectory(state.capturesDirectory, mode: 0o750)
        return ExchangeAssembler(state: state, format: .zstd, maxBodyBytes: 64 << 20, logger: Logger(label: "test"))
    }

    /// Small bodies and a body that streamed into a temporary file: nothing under a final name before the
    /// commit; everything, exact, after it; no temporary left.
    @Test(arguments: [1_000, 900_000])
    func nothingIsVisibleBeforeTheCommitAndEverythingAfterIt(responseBytes: Int) throws {
        let state = try temporaryStateDirectory("batch")
        let assembler = try Self.assembler(state)
        let exchanges = (0..<3).map { _ in TestExchange.random(requestBytes: 2_000, responseBytes: responseBytes) }
        let records = try exchanges.compactMap { try Self.finish($0, into: assembler) }
        #expect(records.count == 3)
        let layout = ObjectStoreLayout(state: state)
        for record in records {
            #expect(!FileManager.default.fileExists(atPath: "\(state.root)/\(record.metadataPath)"))
            #expect(throws: (any Error).self) { try layout.read(#require(record.responseBody)) }
        }
        try assembler.commitStaged()
        for (record, exchange) in zip(records, exchanges) {
            #expect(FileManager.default.fileExists(atPath: "\(state.root)/\(record.metadataPath)"))
            #expect(try layout.read(#require(record.requestBody)) == exchange.request)
            #expect(try layout.read(#require(record.responseBody)) == exchange.response)
        }
        #expect(assembler.objectsWritten == 6)
        #expect(assembler.removeTemporaries() == 0)
    }

    /// A crash between finishing and committing: the next start's sweep removes the temporaries, and
    /// replaying the frames stores the exchange in full.
    /// Large bodies are written out before the commit and hold a descriptor each until it: the batch counts
    /// them, so the coordinator can commit before a batch runs the process out of descriptors.
    @Test func largeBodiesHoldADescriptorEachUntilTheCommit() throws {
        let state = try temporaryStateDirectory("fds")
        let assembler = try Self.assembler(state)
        let exchanges = (0..<3).map { _ in TestExchange.random(requestBytes: 100, responseBytes: 900_000) }
        #expect(try exchanges.compactMap { try Self.finish($0, into: assembler) }.count == 3)
        #expect(assembler.staged.openFiles == 3)
        try assembler.commitStaged()
        #expect(assembler.staged.openFiles == 0)
    }

    @Test func aCrashBeforeTheCommitLeavesOnlyTemporariesAndAReplayStoresEverything() throws {
        let state = try temporaryStateDirectory("batch-crash")
        let exchange = TestExchange.random(requestBytes: 2_000, responseBytes: 900_000)
        do {
            let crashed = try Self.assembler(state)
            _ = try Self.finish(exchange, into: crashed)
            // Committing only writes the in-memory files out; a crash after that leaves them all behind.
            #expect(throws: Never.self) { try crashed.staged.writeOut() }
            let restarted = try Self.assembler(state)
            #expect(restarted.removeTemporaries() == 3)
        }
        let replayed = try Self.assembler(state)
        let record = try #require(try Self.finish(exchange, into: replayed))
        try replayed.commitStaged()
        #expect(try ObjectStoreLayout(state: state).read(#require(record.responseBody)) == exchange.response)
        #expect(FileManager.default.fileExists(atPath: "\(state.root)/\(record.metadataPath)"))
    }

    /// The same body twice in one batch, and again after it: one object, written once, never replaced.
    @Test func anObjectStoredOnceIsKeptWhetherItsTwinIsInTheSameBatchOrALaterOne() throws {
        let state = try temporaryStateDirectory("batch-dedupe")
        let assembler = try Self.assembler(state)
        let body = TestExchange.bytes(3_000)
        let twins = (0..<2).map { _ in TestExchange(request: body, response: TestExchange.bytes(100)) }
        let records = try twins.compactMap { try Self.finish($0, into: assembler) }
        try assembler.commitStaged()
        let path = ObjectStoreLayout(state: state).path(kind: .request, sha256: try #require(records[0].requestBody).sha256)
        let inode = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        _ = try Self.finish(TestExchange(request: body, response: TestExchange.bytes(100)), into: assembler)
        try assembler.commitStaged()
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int == inode)
        #expect(assembler.objectsWritten == 4)  // one request object, three responses
        #expect(assembler.objectsDeduplicated == 2)
        #expect(assembler.removeTemporaries() == 0)
    }

    /// The delivery cursor is overwritten in place (no file created per acknowledgement) and read back,
    /// also from the older variable-width form.
    @Test func theCursorIsRewrittenInPlaceAndSurvivesAReopen() throws {
        let state = try temporaryStateDirectory("cursor")
        let directory = state.root + "/delivery"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "2\n".write(toFile: directory + "/cursor", atomically: false, encoding: .utf8)
        let log = try DeliveryLog(state: state)
        #expect(log.cursor == 2)
        let records = (0..<12).map { DeliveryLogDiskFullTests.record($0) }
        _ = try log.add(records.map { ($0, 1) })
        let inode = try FileManager.default.attributesOfItem(atPath: directory + "/cursor")[.systemFileNumber] as? Int
        for seq in [5, 9, 14] { log.acknowledge(UInt64(seq)) }
        #expect(try FileManager.default.attributesOfItem(atPath: directory + "/cursor")[.systemFileNumber] as? Int == inode)
        log.close()
        let reopened = try DeliveryLog(state: state)
        #expect(reopened.cursor == 14)
        #expect(reopened.pending.isEmpty)
        #expect(DeliveryLog.cursorText(UInt64.max).count == 21)
    }
}
