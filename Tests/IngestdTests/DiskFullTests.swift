import Crypto
import Foundation
import Logging
import Shared
import Testing

@testable import ingestd

/// A full disk (ENOSPC) for real, on a small tmpfs: ingestd must store nothing wrong, lose nothing, and
/// carry on once space is back.
@Suite(.enabled(if: SmallFilesystem.isAvailable, "needs CAP_SYS_ADMIN to mount a small tmpfs"))
struct DiskFullTests {
    static func incompressible(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// A write that throws did not take its chunk: the caller can simply try the same chunk again once
    /// there is room, and the object is exactly the bytes given.
    @Test(arguments: [CompressionFormat.zstd, .gzip])
    func aChunkRefusedForLackOfSpaceCanBeWrittenAgainAndTheObjectIsExact(format: CompressionFormat) throws {
        let disk = try SmallFilesystem(bytes: 4 << 20)
        let state = StateDirectory(root: disk.path)
        let writer = try ObjectWriter(
            layout: ObjectStoreLayout(state: state), kind: .request, format: format,
            maxBytes: 64 << 20)
        let chunks = (0..<6).map { _ in Self.incompressible(300_000) }
        try writer.write(chunks[0])
        disk.fill()
        disk.free(pieces: 1)  // room for part of the next write, so it is torn half-way
        var refused = 0
        for chunk in chunks.dropFirst() {
            do {
                try writer.write(chunk)
            } catch {
                refused += 1
                disk.free()
                try writer.write(chunk)
            }
        }
        let reference = try writer.finish()
        let sent = chunks.flatMap { $0 }
        #expect(refused == 1)
        #expect(reference.sha256 == TestExchange.sha256(sent))
        #expect(try ObjectStoreLayout(state: state).read(reference) == sent)
    }

    /// `$home` on a small tmpfs, filled while a gateway sends: ingestd stops acknowledging and says so;
    /// once space is freed everything sent is recorded, with exact objects.
    @Test func aFullDiskStopsAcknowledgementAndEverythingArrivesOnceSpaceIsBack() async throws {
        let disk = try SmallFilesystem(bytes: 24 << 20)
        let state = StateDirectory(root: disk.path)
        try state.prepareCommon()
        let group = IngestIntegrationTests.group
        let sessiond = try await FakeSessiond(socketPath: state.sessionSocket, group: group)
        let ingestd = try await IngestdUnderTest.start(state: state, segmentBytes: 1 << 20)
        let gateway = FakeGateway(gatewayID: "gw/\(UUID())", socketPath: state.ingestSocket, group: group)

        let before = (0..<3).map { _ in
            TestExchange(request: Self.incompressible(150_000), response: Self.incompressible(90_000))
        }
        let beforeFrames = try TestExchange.interleave(before, gatewayID: gateway.gatewayID)
        try await gateway.session(sending: beforeFrames, awaitAcknowledgementOf: beforeFrames.last?.sequence ?? 0)
        #expect(await sessiond.wait { $0.count == before.count })

        disk.fill()
        let during = (0..<3).map { _ in
            TestExchange(request: Self.incompressible(200_000), response: Self.incompressible(120_000))
        }
        let duringFrames = try TestExchange.interleave(
            during, gatewayID: gateway.gatewayID,
            firstSequence: (beforeFrames.last?.sequence ?? 0) + 1)
        let sending = Task { await gateway.sendUntilAcknowledged(duringFrames) }
        var sawFailing = false
        for _ in 0..<6000 where !sawFailing {
            sawFailing = ingestd.coordinator.health.0 == "failing" && ingestd.coordinator.counters["disk_full"] == 1
            if !sawFailing { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(sawFailing, "the status says frames are not acknowledged because the disk is full")

        disk.free()
        await sending.value
        let all = before + during
        #expect(
            await sessiond.wait { records in
                all.allSatisfy { exchange in records.contains { $0.captureID == exchange.id } }
            })
        await ingestd.stop()
        await sessiond.stop()
        try IngestIntegrationTests.expectStored(all, records: sessiond.records, state: state)
    }

    /// Finishing an exchange can fail for lack of space; it must stay owed, not vanish: an exchange whose
    /// files cannot be staged stays open, and staged files whose commit fails stay staged.
    @Test func anExchangeWhoseFinishFailsIsKeptAndFinishesOnceThereIsRoom() throws {
        let disk = try SmallFilesystem(bytes: 4 << 20)
        let state = StateDirectory(root: disk.path)
        try StateDirectory.ensureDirectory(state.capturesDirectory, mode: 0o750)
        let assembler = ExchangeAssembler(
            state: state, format: .zstd, maxBodyBytes: 64 << 20,
            logger: Logger(label: "test"))
        // One body large enough to stream into a temporary file, one small enough to stay in memory.
        let exchange = TestExchange(request: Self.incompressible(600_000), response: Self.incompressible(100_000))
        let frames = try TestExchange.interleave([exchange], gatewayID: "gw/1")
        for frame in frames.dropLast() { _ = try assembler.apply(frame, gatewayID: "gw/1", segment: 1) }
        disk.fill()
        var finished: ExchangeAssembler.Finished?
        do {
            finished = try assembler.apply(frames[frames.count - 1], gatewayID: "gw/1", segment: 1)
        } catch {
            #expect(assembler.openCount == 1, "the exchange is still owed")
        }
        if finished != nil {
            #expect(throws: (any Error).self) { try assembler.commitStaged() }
            #expect(assembler.staged.count > 0, "the staged files are still owed")
        }
        disk.free()
        if finished == nil {
            finished = try assembler.apply(frames[frames.count - 1], gatewayID: "gw/1", segment: 1)
        }
        try assembler.commitStaged()
        let record = try #require(finished).record
        #expect(record.requestBody?.sha256 == TestExchange.sha256(exchange.request))
        #expect(try ObjectStoreLayout(state: state).read(#require(record.requestBody)) == exchange.request)
        #expect(try ObjectStoreLayout(state: state).read(#require(record.responseBody)) == exchange.response)
        #expect(FileManager.default.fileExists(atPath: "\(state.root)/\(record.metadataPath)"))
        #expect(assembler.removeTemporaries() == 0, "no temporary file is left behind")
    }
}

/// The delivery log on a full disk: a refused append leaves the log as it was, so adding the same
/// records later works, and a restart reads every entry (a torn line would have cut the ones after it).
@Suite(.enabled(if: SmallFilesystem.isAvailable, "needs CAP_SYS_ADMIN to mount a small tmpfs"))
struct DeliveryLogDiskFullTests {
    static func record(_ i: Int) -> CaptureRecord {
        CaptureRecord(
            captureID: UUID(),
            begin: ExchangeBegin(
                gatewayID: "g", connectionID: 1, scheme: "https", host: "h", port: 443, method: "POST",
                path: "/", httpVersion: "HTTP/1.1", headers: [], client: ClientAttribution(address: "a"),
                startedAt: 0),
            response: nil,
            end: ExchangeEnd(
                outcome: .complete, status: 200, endedAt: 0, timeToFirstByte: nil, requestBytes: 0,
                responseBytes: 0, requestWireSHA256: "", responseWireSHA256: "", redactions: [],
                streamed: false, webSocket: false),
            requestBody: nil, responseBody: nil,
            metadataPath: "captures/" + String(repeating: "m", count: 3_000) + "\(i).json")
    }

    @Test func aRefusedAppendLeavesTheLogAsItWas() throws {
        let disk = try SmallFilesystem(bytes: 1 << 20)
        let state = StateDirectory(root: disk.path)
        let log = try DeliveryLog(state: state)
        let first = (0..<3).map { Self.record($0) }
        #expect(try log.add(first.map { ($0, 1) }).map(\.seq) == [1, 2, 3])
        disk.fill(pieceBytes: 4096)
        disk.free(pieces: 1)  // room for part of the next append only
        let more = (3..<20).map { Self.record($0) }
        #expect(throws: (any Error).self) { try log.add(more.map { ($0, 1) }) }
        #expect(log.pending.count == 3)
        disk.free()
        #expect(try log.add(more.map { ($0, 1) }).map(\.seq) == Array(4...20))
        log.close()
        let reopened = try DeliveryLog(state: state)
        #expect(reopened.pending.map(\.seq) == Array(1...20))
        #expect(reopened.known == Set((first + more).map(\.captureID)))
    }
}
