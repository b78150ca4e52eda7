import CZstd

/// zstd streaming compression through libzstd (the object store's default).
public final class ZstdCompressor: StreamCompressor {
    private let stream: OpaquePointer
    private var scratch: [UInt8]

    public init(level: Int = 1) throws(CompressionError) {
        guard let stream = ZSTD_createCCtx() else {
            throw CompressionError(library: "zstd", detail: "cannot allocate a compression context")
        }
        self.stream = stream
        self.scratch = [UInt8](repeating: 0, count: ZSTD_CStreamOutSize())
        let rc = ZSTD_CCtx_setParameter(stream, ZSTD_c_compressionLevel, Int32(level))
        if ZSTD_isError(rc) != 0 {
            ZSTD_freeCCtx(stream)
            throw CompressionError(library: "zstd", detail: String(cString: ZSTD_getErrorName(rc)))
        }
    }

    deinit { ZSTD_freeCCtx(stream) }

    public func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(CompressionError) {
        try run(input, mode: ZSTD_e_continue, into: &output)
    }

    public func finish(into output: inout [UInt8]) throws(CompressionError) {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), mode: ZSTD_e_end, into: &output)
    }

    private func run(_ input: UnsafeRawBufferPointer, mode: ZSTD_EndDirective, into output: inout [UInt8]) throws(CompressionError) {
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        let capacity = scratch.count
        while true {
            let (remaining, produced) = scratch.withUnsafeMutableBytes { raw -> (Int, Int) in
                var outBuffer = ZSTD_outBuffer(dst: raw.baseAddress, size: capacity, pos: 0)
                let r = ZSTD_compressStream2(stream, &outBuffer, &inBuffer, mode)
                return (r, outBuffer.pos)
            }
            if ZSTD_isError(remaining) != 0 {
                throw CompressionError(library: "zstd", detail: String(cString: ZSTD_getErrorName(remaining)))
            }
            output.append(contentsOf: scratch[0..<produced])
            let done = mode == ZSTD_e_end ? remaining == 0 : inBuffer.pos == inBuffer.size && produced < capacity
            if done { return }
        }
    }
}

/// zstd streaming decompression.
public final class ZstdDecompressor: StreamDecompressor {
    private let stream: OpaquePointer
    private var scratch: [UInt8]
    /// libzstd's hint: 0 once a frame is completely decoded and flushed.
    private var lastHint = 0
    private var sawInput = false

    public init() throws(CompressionError) {
        guard let stream = ZSTD_createDCtx() else {
            throw CompressionError(library: "zstd", detail: "cannot allocate a decompression context")
        }
        self.stream = stream
        self.scratch = [UInt8](repeating: 0, count: ZSTD_DStreamOutSize())
    }

    deinit { ZSTD_freeDCtx(stream) }

    /// Makes the decompressor ready for a new stream, keeping its context and buffer: creating a context per
    /// object was a visible share of reading many small objects.
    public func reset() throws(CompressionError) {
        let rc = ZSTD_DCtx_reset(stream, ZSTD_reset_session_only)
        if ZSTD_isError(rc) != 0 {
            throw CompressionError(library: "zstd", detail: String(cString: ZSTD_getErrorName(rc)))
        }
        lastHint = 0
        sawInput = false
    }

    public func decompress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(CompressionError) {
        guard input.count > 0 else { return }
        sawInput = true
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        let capacity = scratch.count
        while true {
            let (hint, produced) = scratch.withUnsafeMutableBytes { raw -> (Int, Int) in
                var outBuffer = ZSTD_outBuffer(dst: raw.baseAddress, size: capacity, pos: 0)
                let r = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                return (r, outBuffer.pos)
            }
            if ZSTD_isError(hint) != 0 {
                throw CompressionError(library: "zstd", detail: String(cString: ZSTD_getErrorName(hint)))
            }
            lastHint = hint
            output.append(contentsOf: scratch[0..<produced])
            if inBuffer.pos == inBuffer.size && produced < capacity { return }
        }
    }

    public func finish() throws(CompressionError) {
        guard !sawInput || lastHint == 0 else {
            throw CompressionError(library: "zstd", detail: "the compressed stream is truncated")
        }
    }
}
