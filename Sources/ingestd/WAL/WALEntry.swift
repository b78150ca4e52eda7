import NIOCore

/// One WAL entry: `u32 length, u32 CRC-32C of the payload, payload`, where the payload is the gateway id
/// (u16 length + UTF-8) followed by the capture frame exactly as it arrived.
struct WALEntry: Equatable {
    var gatewayID: String
    var frame: ByteBuffer

    static let headerLength = 8

    func encode(into out: inout [UInt8]) {
        let id = Array(gatewayID.utf8)
        var payload: [UInt8] = []
        payload.reserveCapacity(2 + id.count + frame.readableBytes)
        payload.append(UInt8(id.count >> 8))
        payload.append(UInt8(id.count & 0xff))
        payload += id
        payload += frame.readableBytesView
        let crc = CRC32C.checksum(payload)
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8((payload.count >> shift) & 0xff)) }
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8((crc >> UInt32(shift)) & 0xff)) }
        out += payload
    }

    /// What a scan of a segment found: the entries, and where the valid log ends.
    struct Scan: Equatable {
        var entries: [WALEntry]
        /// Bytes of complete, valid entries from the start; anything after is a torn or corrupt tail.
        var validLength: Int
        /// Why the scan stopped before the end, if it did.
        var problem: String?
    }

    /// Reads entries until the bytes end or stop making sense. Pure: recovery decides what to cut.
    static func scan(_ bytes: [UInt8], maximumEntry: Int = 64 * 1024 * 1024) -> Scan {
        var entries: [WALEntry] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= headerLength else {
                return Scan(entries: entries, validLength: offset, problem: "torn header at offset \(offset)")
            }
            let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            let crc = bytes[(offset + 4)..<(offset + 8)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard length >= 2, length <= maximumEntry else {
                return Scan(entries: entries, validLength: offset, problem: "implausible length \(length) at offset \(offset)")
            }
            let start = offset + headerLength
            guard bytes.count - start >= length else {
                return Scan(entries: entries, validLength: offset, problem: "torn entry at offset \(offset)")
            }
            let payload = Array(bytes[start..<(start + length)])
            guard CRC32C.checksum(payload) == crc else {
                return Scan(entries: entries, validLength: offset, problem: "checksum mismatch at offset \(offset)")
            }
            let idLength = Int(payload[0]) << 8 | Int(payload[1])
            guard 2 + idLength <= payload.count else {
                return Scan(entries: entries, validLength: offset, problem: "bad gateway id at offset \(offset)")
            }
            let id = String(decoding: payload[2..<(2 + idLength)], as: UTF8.self)
            entries.append(WALEntry(gatewayID: id, frame: ByteBuffer(bytes: payload[(2 + idLength)...])))
            offset = start + length
        }
        return Scan(entries: entries, validLength: offset, problem: nil)
    }
}
