import NIOCore
import Shared

/// The redaction applied to one body's capture copy: none, byte-stream, or SSE-aware for event streams.
enum BodyRedactor {
    case none
    case bytes(StreamingSecretRedactor)
    case events(SSESecretRedactor)

    /// The redactor for a body of `contentType`, when `capture.redact_bodies` is on.
    static func forBody(contentType: String?, enabled: Bool) -> BodyRedactor {
        guard enabled else { return .none }
        if contentType?.lowercased().hasPrefix("text/event-stream") == true { return .events(SSESecretRedactor()) }
        return .bytes(StreamingSecretRedactor())
    }

    /// The capture copy of `chunk`: the chunk itself (a slice, no copy) when nothing in it changes or is
    /// held back, otherwise the bytes now certain.
    ///
    /// The redactor is taken out of `self` while it works, so its buffers stay uniquely referenced and
    /// are not copied on write.
    mutating func feed(_ chunk: ByteBuffer) -> ByteBuffer {
        switch self {
        case .none:
            return chunk
        case .bytes(var r):
            self = .none
            defer { self = .bytes(r) }
            switch chunk.withUnsafeReadableBytes({ r.feed($0) }) {
            case .chunkPrefix(let n):
                return n == chunk.readableBytes ? chunk : chunk.getSlice(at: chunk.readerIndex, length: n) ?? ByteBuffer()
            case .bytes(let bytes):
                return ByteBuffer(bytes: bytes)
            }
        case .events(var r):
            self = .none
            defer { self = .events(r) }
            return ByteBuffer(bytes: chunk.withUnsafeReadableBytes { r.feed($0) })
        }
    }

    mutating func finish() -> [UInt8] {
        switch self {
        case .none:
            return []
        case .bytes(var r):
            self = .none
            defer { self = .bytes(r) }
            return r.finish()
        case .events(var r):
            self = .none
            defer { self = .events(r) }
            return r.finish()
        }
    }

    var firedRules: [String] {
        switch self {
        case .none: []
        case .bytes(let r): r.firedRules
        case .events(let r): r.allFiredRules
        }
    }
}
