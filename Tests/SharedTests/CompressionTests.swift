import CZlib
import Foundation
import Testing

@testable import Shared

@Suite struct CompressionTests {
    static let corpus: [UInt8] = {
        var g = SystemRandomNumberGenerator()
        var bytes = Array("{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}".utf8)
        for _ in 0..<200_000 { bytes.append(UInt8.random(in: 97...102, using: &g)) }
        return bytes
    }()

    @Test(arguments: CompressionFormat.allCases)
    func roundTripInChunks(format: CompressionFormat) throws {
        var compressor = try format.makeCompressor()
        var compressed: [UInt8] = []
        var offset = 0
        while offset < Self.corpus.count {
            let end = min(offset + 7_919, Self.corpus.count)
            try Self.corpus[offset..<end].withUnsafeBytes { try compressor.compress($0, into: &compressed) }
            offset = end
        }
        try compressor.finish(into: &compressed)
        #expect(compressed.count < Self.corpus.count)
        #expect(try format.decompress(compressed) == Self.corpus)
    }

    @Test(arguments: CompressionFormat.allCases)
    func aTruncatedObjectIsAnError(format: CompressionFormat) throws {
        var compressor = try format.makeCompressor()
        var compressed: [UInt8] = []
        try Self.corpus.withUnsafeBytes { try compressor.compress($0, into: &compressed) }
        try compressor.finish(into: &compressed)
        #expect(throws: CompressionError.self) { try format.decompress(Array(compressed.dropLast(9))) }
    }

    @Test(arguments: CompressionFormat.allCases)
    func garbageIsAnError(format: CompressionFormat) {
        #expect(throws: CompressionError.self) { try format.decompress(Array("not compressed at all".utf8)) }
    }

    /// permessage-deflate as a peer sends it: raw deflate, sync-flushed, trailing 00 00 ff ff removed, the
    /// window kept across messages.
    @Test func rawInflateKeepsContextAcrossMessages() throws {
        var deflater = z_stream()
        #expect(deflateInit2_(&deflater, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                              Int32(MemoryLayout<z_stream>.size)) == Z_OK)
        defer { deflateEnd(&deflater) }
        let inflater = try RawInflater()
        let messages = ["{\"type\":\"response.create\",\"input\":\"hi\"}", "{\"type\":\"response.create\",\"input\":\"hi again\"}"]
        for message in messages {
            var input = Array(message.utf8)
            var out = [UInt8](repeating: 0, count: 4096)
            let produced = input.withUnsafeMutableBytes { i in
                out.withUnsafeMutableBytes { o in
                    deflater.next_in = i.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    deflater.avail_in = uInt(i.count)
                    deflater.next_out = o.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    deflater.avail_out = uInt(o.count)
                    deflate(&deflater, Z_SYNC_FLUSH)
                    return o.count - Int(deflater.avail_out)
                }
            }
            let payload = Array(out[0..<(produced - 4)])
            #expect(try inflater.inflateMessage(payload, limit: 1 << 20) == Array(message.utf8))
        }
    }

    @Test func inflationStopsAtTheLimit() throws {
        let inflater = try RawInflater()
        var deflater = z_stream()
        _ = deflateInit2_(&deflater, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&deflater) }
        var input = [UInt8](repeating: 65, count: 100_000)
        var out = [UInt8](repeating: 0, count: 100_000)
        let produced = input.withUnsafeMutableBytes { i in
            out.withUnsafeMutableBytes { o in
                deflater.next_in = i.baseAddress?.assumingMemoryBound(to: Bytef.self)
                deflater.avail_in = uInt(i.count)
                deflater.next_out = o.baseAddress?.assumingMemoryBound(to: Bytef.self)
                deflater.avail_out = uInt(o.count)
                deflate(&deflater, Z_SYNC_FLUSH)
                return o.count - Int(deflater.avail_out)
            }
        }
        #expect(throws: CompressionError.self) {
            try inflater.inflateMessage(Array(out[0..<(produced - 4)]), limit: 1000)
        }
    }
}
