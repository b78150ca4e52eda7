import Crypto
import Foundation
import Shared
import Testing

@testable import ingestd

/// `capture.max_body_bytes`: the object holds the start of the body; the reference keeps the whole body's
/// size and SHA-256, wherever the bound falls among the chunks.
@Suite struct ObjectTruncationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var bodyBytes: Int
        var chunkBytes: Int
        var limit: Int
        var testDescription: String { "body \(bodyBytes), chunks of \(chunkBytes), limit \(limit)" }
    }

    static let cases: [Case] = [
        Case(bodyBytes: 10_000, chunkBytes: 1_000, limit: 4_096),  // bound inside a chunk
        Case(bodyBytes: 10_000, chunkBytes: 1_000, limit: 4_000),  // bound on a chunk boundary
        Case(bodyBytes: 10_000, chunkBytes: 10_000, limit: 1),  // one chunk, almost nothing kept
        Case(bodyBytes: 10_000, chunkBytes: 3_333, limit: 0),  // nothing kept
        Case(bodyBytes: 10_000, chunkBytes: 777, limit: 10_000),  // exactly at the bound: not truncated
        Case(bodyBytes: 300_000, chunkBytes: 65_536, limit: 200_001),
    ]

    @Test(arguments: cases, [CompressionFormat.zstd, .gzip])
    func truncatedBodiesKeepTheWholeBodysSizeAndHash(_ c: Case, format: CompressionFormat) throws {
        let state = try temporaryStateDirectory("trunc")
        let body = TestExchange.bytes(c.bodyBytes)
        let writer = try ObjectWriter(
            layout: ObjectStoreLayout(state: state), kind: .response, format: format,
            maxBytes: c.limit)
        for chunk in TestExchange.chunks(body, size: c.chunkBytes) { try writer.write(Array(chunk)) }
        let reference = try writer.finish()
        let kept = Array(body.prefix(c.limit))
        #expect(reference.truncated == (c.bodyBytes > c.limit))
        #expect(reference.size == Int64(kept.count))
        #expect(reference.fullSize == Int64(body.count))
        #expect(reference.sha256 == TestExchange.sha256(kept))
        #expect(reference.fullSHA256 == TestExchange.sha256(body))
        #expect(try ObjectStoreLayout(state: state).read(reference) == kept)
    }
}
