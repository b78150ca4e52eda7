import Crypto
import Foundation
import Logging
import NIOCore
import Testing

@testable import Shared
@testable import ingestd

@Suite struct WALTests {
    static func frame(_ seq: UInt64, _ text: String) -> ByteBuffer {
        var out = ByteBuffer()
        CaptureFrameCodec.encode(CaptureFrame(kind: .requestBody, sequence: seq, exchangeID: UUID(), timestamp: 1,
                                              payload: ByteBuffer(string: text)), into: &out)
        return out
    }

    static let entries = (1...4).map { WALEntry(gatewayID: "gw/\($0 % 2)", frame: frame(UInt64($0), "body \($0) " + String(repeating: "x", count: $0 * 3))) }

    static func encoded(_ entries: [WALEntry]) -> [UInt8] {
        var out: [UInt8] = []
        for e in entries { e.encode(into: &out) }
        return out
    }

    @Test func appendAndReadBack() {
        let scan = WALEntry.scan(Self.encoded(Self.entries))
        #expect(scan.entries == Self.entries)
        #expect(scan.problem == nil)
    }

    /// The last entry cut at every byte offset: recovery keeps exactly the complete entries before it.
    @Test func aTornTailAtEveryOffsetKeepsTheCompleteEntries() {
        let before = Self.encoded(Array(Self.entries.dropLast()))
        let all = Self.encoded(Self.entries)
        for cut in before.count..<all.count {
            let scan = WALEntry.scan(Array(all[..<cut]))
            #expect(scan.entries == Array(Self.entries.dropLast()), "cut at \(cut)")
            #expect(scan.validLength == before.count)
            #expect(cut == before.count ? scan.problem == nil : scan.problem != nil)
        }
    }

    @Test func aFlippedByteMidLogIsDetectedByTheChecksum() {
        var bytes = Self.encoded(Self.entries)
        let firstLength = Self.encoded([Self.entries[0]]).count
        let secondLength = Self.encoded([Self.entries[1]]).count
        bytes[firstLength + secondLength / 2] ^= 0x20
        let scan = WALEntry.scan(bytes)
        #expect(scan.entries == [Self.entries[0]])
        #expect(scan.validLength == firstLength)
        #expect(scan.problem?.contains("checksum") == true)
    }

    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func recoveryCutsTheTailOnDiskAndAppendsAfterIt() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/fl-wal-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let wal = WriteAheadLog(directory: dir, segmentLimit: 1 << 20, logger: Logger(label: "test"))
        #expect(try wal.recover().isEmpty)
        let segment = try wal.append(Array(Self.entries.prefix(3)))
        wal.close()
        // Tear the last entry as a crash would.
        let path = "\(dir)/\(WriteAheadLog.name(segment))"
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
        #expect(truncate(path, off_t(size - 3)) == 0)
        let again = WriteAheadLog(directory: dir, segmentLimit: 1 << 20, logger: Logger(label: "test"))
        let recovered = try again.recover()
        #expect(recovered.map(\.1) == Array(Self.entries.prefix(2)))
        _ = try again.append([Self.entries[3]])
        again.close()
        let third = WriteAheadLog(directory: dir, segmentLimit: 1 << 20, logger: Logger(label: "test"))
        #expect(try third.recover().map(\.1) == [Self.entries[0], Self.entries[1], Self.entries[3]])
    }
}

@Suite struct ObjectStoreTests {
    let state: StateDirectory

    init() throws {
        state = StateDirectory(root: FileManager.default.temporaryDirectory.path + "/fl-obj-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: state.root, withIntermediateDirectories: true)
    }

    @Test(arguments: CompressionFormat.allCases)
    func theStoredHashIsTheHashOfTheBytesAfterDecompression(format: CompressionFormat) throws {
        let body = Array(String(repeating: "{\"role\":\"user\",\"content\":\"hello\"}", count: 5000).utf8)
        let writer = try ObjectWriter(layout: ObjectStoreLayout(state: state), kind: .request, format: format, maxBytes: 1 << 30)
        for start in stride(from: 0, to: body.count, by: 7000) { try writer.write(Array(body[start..<min(start + 7000, body.count)])) }
        let reference = try writer.finish()
        #expect(reference.size == Int64(body.count))
        #expect(!reference.truncated)
        let stored = try ObjectStoreLayout(state: state).read(reference)
        #expect(stored == body)
        let sha = Hex.string(SHA256Hasher.hash(stored))
        #expect(sha == reference.sha256)
        #expect(FileManager.default.fileExists(atPath: ObjectStoreLayout(state: state).path(kind: .request, sha256: sha)))
    }

    @Test func anExistingObjectIsNotRewritten() throws {
        let layout = ObjectStoreLayout(state: state)
        let first = try ObjectWriter(layout: layout, kind: .response, format: .zstd, maxBytes: 1 << 20)
        try first.write(Array("same".utf8))
        let a = try first.finish()
        let path = layout.path(kind: .response, sha256: a.sha256)
        let inode = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        let second = try ObjectWriter(layout: layout, kind: .response, format: .zstd, maxBytes: 1 << 20)
        try second.write(Array("same".utf8))
        let b = try second.finish()
        #expect(a == b)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int == inode)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: state.objectsDirectory + "/resp").filter { $0.hasPrefix(".tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test func aBodyOverTheLimitIsStoredTruncatedWithItsFullSizeAndHash() throws {
        let body = [UInt8](repeating: 7, count: 10_000)
        let writer = try ObjectWriter(layout: ObjectStoreLayout(state: state), kind: .request, format: .zstd, maxBytes: 4096)
        try writer.write(body)
        let reference = try writer.finish()
        #expect(reference.truncated)
        #expect(reference.size == 4096)
        #expect(reference.fullSize == 10_000)
        #expect(reference.fullSHA256 == Hex.string(SHA256Hasher.hash(body)))
        #expect(reference.sha256 == Hex.string(SHA256Hasher.hash(Array(body.prefix(4096)))))
    }
}

@Suite struct DeliveryLogTests {
    @Test func pendingRecordsSurviveARestartAndAcksAdvanceTheCursor() throws {
        let state = StateDirectory(root: FileManager.default.temporaryDirectory.path + "/fl-dl-\(UUID().uuidString)")
        let log = try DeliveryLog(state: state)
        let records = (0..<3).map { i in
            CaptureRecord(captureID: UUID(), begin: ExchangeBegin(gatewayID: "g", connectionID: 1, scheme: "https", host: "h",
                                                                    port: 443, method: "POST", path: "/", httpVersion: "HTTP/1.1",
                                                                    headers: [], client: ClientAttribution(address: "a"), startedAt: 0),
                          response: nil, end: ExchangeEnd(outcome: .complete, status: 200, endedAt: 0, timeToFirstByte: nil,
                                                          requestBytes: 0, responseBytes: 0, requestWireSHA256: "",
                                                          responseWireSHA256: "", redactions: [], streamed: false, webSocket: false),
                          requestBody: nil, responseBody: nil, metadataPath: "captures/\(i).json")
        }
        let added = try log.add(records.map { ($0, 1) })
        #expect(added.map(\.seq) == [1, 2, 3])
        #expect(try log.add([(records[0], 1)]).isEmpty)
        log.acknowledge(1)
        log.close()
        let reopened = try DeliveryLog(state: state)
        #expect(reopened.pending.map(\.seq) == [2, 3])
        #expect(reopened.cursor == 1)
        #expect(reopened.known.contains(records[0].captureID))
        let next = try reopened.add([(CaptureRecord(captureID: UUID(), begin: records[0].begin, response: nil, end: records[0].end,
                                                    requestBody: nil, responseBody: nil, metadataPath: "captures/x.json"), 2)])
        #expect(next.map(\.seq) == [4])
    }
}

/// SHA-256 for tests, through swift-crypto (the same implementation the writer uses).
enum SHA256Hasher {
    static func hash(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }
}
