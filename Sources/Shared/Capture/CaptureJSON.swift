/// A small JSON writer for the gateway's per-exchange records.
///
/// Foundation's `JSONEncoder` costs tens of microseconds per record on Linux, three records an exchange,
/// on the event loop that serves the agent; these writers produce the same JSON (same keys, decodable by
/// the records' `Codable` conformances) in a few microseconds.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = [false]

    public init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func beginObject() { separate(); bytes.append(0x7b); needsComma.append(false) }
    public mutating func endObject() { bytes.append(0x7d); needsComma.removeLast() }
    public mutating func beginArray() { separate(); bytes.append(0x5b); needsComma.append(false) }
    public mutating func endArray() { bytes.append(0x5d); needsComma.removeLast() }

    public mutating func key(_ name: String) {
        separate()
        string(name, separated: false)
        bytes.append(0x3a)
        needsComma[needsComma.count - 1] = false
    }

    public mutating func value(_ text: String) { separate(); string(text, separated: false) }
    public mutating func value(_ number: Int64) { separate(); bytes.append(contentsOf: String(number).utf8) }
    public mutating func value(_ flag: Bool) { separate(); bytes.append(contentsOf: (flag ? "true" : "false").utf8) }
    public mutating func null() { separate(); bytes.append(contentsOf: "null".utf8) }

    public mutating func field(_ name: String, _ text: String?) {
        guard let text else { return }
        key(name)
        value(text)
    }

    public mutating func field(_ name: String, _ number: Int64?) {
        guard let number else { return }
        key(name)
        value(number)
    }

    public mutating func field(_ name: String, _ flag: Bool) {
        key(name)
        value(flag)
    }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(0x2c) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func string(_ text: String, separated: Bool) {
        bytes.append(0x22)
        for b in text.utf8 {
            switch b {
            case 0x22: bytes.append(contentsOf: [0x5c, 0x22])
            case 0x5c: bytes.append(contentsOf: [0x5c, 0x5c])
            case 0x0a: bytes.append(contentsOf: [0x5c, 0x6e])
            case 0x0d: bytes.append(contentsOf: [0x5c, 0x72])
            case 0x09: bytes.append(contentsOf: [0x5c, 0x74])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5c, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xf)]])
            default: bytes.append(b)
            }
        }
        bytes.append(0x22)
    }
}

extension JSONWriter {
    mutating func headers(_ name: String, _ pairs: [HeaderPair]) {
        key(name)
        beginArray()
        for pair in pairs {
            beginArray()
            for item in pair { value(item) }
            endArray()
        }
        endArray()
    }
}

extension ExchangeBegin {
    /// The record as JSON, the same as `JSONEncoder` would write it.
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("client")
        w.beginObject()
        w.field("address", client.address)
        w.field("pid", client.pid.map(Int64.init))
        w.field("uid", client.uid.map(Int64.init))
        w.field("executable", client.executable)
        w.field("cwd", client.workingDirectory)
        w.field("proxy_user", client.proxyUser)
        w.field("user_agent", client.userAgent)
        w.endObject()
        w.field("connection_id", Int64(truncatingIfNeeded: connectionID))
        w.field("gateway_id", gatewayID)
        w.headers("headers", headers)
        w.field("host", host)
        w.field("http_version", httpVersion)
        w.field("method", method)
        w.field("path", path)
        w.field("port", Int64(port))
        w.field("scheme", scheme)
        w.field("started_at", startedAt)
        w.endObject()
        return w.bytes
    }
}

extension ResponseHead {
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        w.headers("headers", headers)
        w.field("http_version", httpVersion)
        w.field("reason", reason)
        w.field("status", Int64(status))
        w.field("synthetic", synthetic)
        w.endObject()
        return w.bytes
    }
}

extension ExchangeEnd {
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        w.field("ended_at", endedAt)
        w.field("error", error)
        w.field("outcome", outcome.rawValue)
        w.key("redactions")
        w.beginArray()
        for r in redactions { w.value(r) }
        w.endArray()
        w.field("request_bytes", requestBytes)
        w.field("request_wire_sha256", requestWireSHA256)
        w.field("response_bytes", responseBytes)
        w.field("response_wire_sha256", responseWireSHA256)
        w.field("status", status.map(Int64.init))
        w.field("streamed", streamed)
        w.field("ttfb_ns", timeToFirstByte)
        w.field("websocket", webSocket)
        w.endObject()
        return w.bytes
    }
}
