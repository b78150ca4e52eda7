/// A streaming compressor: bytes in, compressed bytes out, one chunk at a time, bounded memory.
public protocol StreamCompressor {
    /// Compresses `input`, appending whatever output is ready to `output`.
    mutating func compress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(CompressionError)
    /// Ends the stream, appending the remaining output.
    mutating func finish(into output: inout [UInt8]) throws(CompressionError)
}

/// A streaming decompressor.
public protocol StreamDecompressor {
    mutating func decompress(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(CompressionError)
    /// Checks that the stream ended where a frame ended (a truncated object is an error, not a short body).
    mutating func finish() throws(CompressionError)
}

/// The compression formats of the object store.
public enum CompressionFormat: String, Codable, Sendable, CaseIterable {
    case zstd
    case gzip

    public func makeCompressor(level: Int? = nil) throws(CompressionError) -> any StreamCompressor {
        switch self {
        case .zstd: return try ZstdCompressor(level: level ?? 1)
        case .gzip: return try GzipCompressor(level: level ?? 1)
        }
    }

    public func makeDecompressor() throws(CompressionError) -> any StreamDecompressor {
        switch self {
        case .zstd: return try ZstdDecompressor()
        case .gzip: return try GzipDecompressor()
        }
    }

    /// Decompresses a whole buffer (for reading objects back).
    public func decompress(_ data: [UInt8]) throws(CompressionError) -> [UInt8] {
        var decompressor = try makeDecompressor()
        return try Self.decompress(data, with: &decompressor)
    }

    /// Decompresses a whole buffer with a decompressor the caller keeps (and resets) between objects;
    /// `capacity` reserves the output up front.
    public static func decompress<D: StreamDecompressor>(
        _ data: [UInt8], with decompressor: inout D, capacity: Int = 0
    ) throws(CompressionError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(capacity)
        var failure: CompressionError?
        data.withUnsafeBytes { raw in
            do throws(CompressionError) {
                try decompressor.decompress(raw, into: &output)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        try decompressor.finish()
        return output
    }
}

/// A compression library reported an error, or the input was not what it should be.
public struct CompressionError: Error, CustomStringConvertible, Sendable {
    public var library: String
    public var detail: String

    public init(library: String, detail: String) {
        self.library = library
        self.detail = detail
    }

    public var description: String { "\(library): \(detail)" }
}
