import CZlib

/// gzip streaming compression through zlib (`ingest.compression: gzip`).
public final class GzipCompressor: StreamCompressor {
    private var stream = z_stream()
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    public init(level: Int = 1) throws(CompressionError) {
        // windowBits 15 + 16: a gzip wrapper rather than raw deflate or zlib.
        let rc = deflateInit2_(&stream, Int32(level), Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                               Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw CompressionError(library: "zlib", detail: "deflateInit2 failed (\(rc))") }
    }

    deinit { deflateEnd(&stream) }

    public func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(CompressionError) {
        try run(input, flush: Z_NO_FLUSH, into: &output)
    }

    public func finish(into output: inout [UInt8]) throws(CompressionError) {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, into: &output)
    }

    private func run(_ input: UnsafeRawBufferPointer, flush: Int32, into output: inout [UInt8]) throws(CompressionError) {
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        let capacity = scratch.count
        while true {
            let (rc, produced) = scratch.withUnsafeMutableBytes { raw -> (Int32, Int) in
                stream.next_out = raw.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(capacity)
                let rc = deflate(&stream, flush)
                return (rc, capacity - Int(stream.avail_out))
            }
            guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
                throw CompressionError(library: "zlib", detail: "deflate failed (\(rc))")
            }
            output.append(contentsOf: scratch[0..<produced])
            if flush == Z_FINISH ? rc == Z_STREAM_END : (stream.avail_in == 0 && produced < capacity) { return }
        }
    }
}

/// gzip streaming decompression.
public final class GzipDecompressor: StreamDecompressor {
    private var stream = z_stream()
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)
    private var ended = false
    private var sawInput = false

    public init() throws(CompressionError) {
        let rc = inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw CompressionError(library: "zlib", detail: "inflateInit2 failed (\(rc))") }
    }

    deinit { inflateEnd(&stream) }

    public func decompress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(CompressionError) {
        guard input.count > 0 else { return }
        sawInput = true
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        let capacity = scratch.count
        while !ended {
            let (rc, produced) = scratch.withUnsafeMutableBytes { raw -> (Int32, Int) in
                stream.next_out = raw.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(capacity)
                let rc = inflate(&stream, Z_NO_FLUSH)
                return (rc, capacity - Int(stream.avail_out))
            }
            guard rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR else {
                throw CompressionError(library: "zlib", detail: "inflate failed (\(rc)): corrupt gzip data")
            }
            output.append(contentsOf: scratch[0..<produced])
            if rc == Z_STREAM_END { ended = true }
            if stream.avail_in == 0 && produced < capacity { return }
        }
    }

    public func finish() throws(CompressionError) {
        guard !sawInput || ended else {
            throw CompressionError(library: "zlib", detail: "the gzip stream is truncated")
        }
    }
}

/// Raw-deflate inflation for WebSocket permessage-deflate (RFC 7692): one per direction, keeping the
/// sliding window between messages unless context takeover was negotiated off.
public final class RawInflater {
    private var stream = z_stream()
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)

    public init() throws(CompressionError) {
        let rc = inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { throw CompressionError(library: "zlib", detail: "inflateInit2 failed (\(rc))") }
    }

    deinit { inflateEnd(&stream) }

    /// Inflates one message's payload (RFC 7692 §7.2.2: append 00 00 ff ff before inflating).
    public func inflateMessage(_ payload: [UInt8], limit: Int) throws(CompressionError) -> [UInt8] {
        var input = payload
        input.append(contentsOf: [0x00, 0x00, 0xff, 0xff])
        var output: [UInt8] = []
        let capacity = scratch.count
        var failure: CompressionError?
        input.withUnsafeMutableBytes { raw in
            stream.next_in = raw.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_in = uInt(raw.count)
            while true {
                let (rc, produced) = scratch.withUnsafeMutableBytes { out -> (Int32, Int) in
                    stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                    stream.avail_out = uInt(capacity)
                    let rc = inflate(&stream, Z_SYNC_FLUSH)
                    return (rc, capacity - Int(stream.avail_out))
                }
                guard rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END else {
                    failure = CompressionError(library: "zlib", detail: "inflate failed (\(rc)): corrupt deflate data")
                    return
                }
                output.append(contentsOf: scratch[0..<produced])
                guard output.count <= limit else {
                    failure = CompressionError(library: "zlib", detail: "inflated message exceeds \(limit) bytes")
                    return
                }
                if stream.avail_in == 0 && produced < capacity { return }
                if rc == Z_BUF_ERROR && produced == 0 { return }
            }
        }
        if let failure { throw failure }
        return output
    }

    /// Forgets the window (for `*_no_context_takeover`).
    public func reset() {
        inflateReset(&stream)
    }
}
