import Testing

@testable import ingestd

/// The eight-bytes-at-a-time CRC-32C against the textbook bit-at-a-time definition.
@Suite struct CRC32CTests {
    /// Bit by bit, straight from the polynomial: slow, obviously right.
    static func reference(_ bytes: ArraySlice<UInt8>, seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    static let bytes: [UInt8] = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 7) }

    @Test func standardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
    }

    /// Every length through several 8-byte strides, from every start offset within a word (unaligned loads).
    @Test(arguments: 0..<8)
    func everyLengthAndAlignment(start: Int) {
        for length in 0..<(Self.bytes.count - start) {
            let slice = Self.bytes[start..<(start + length)]
            let fast = slice.withUnsafeBytes { CRC32C.checksum($0) }
            #expect(fast == Self.reference(slice), "start \(start), length \(length)")
        }
    }

    @Test func aSeedContinuesAChecksum() {
        let whole = CRC32C.checksum(Self.bytes)
        let first = Self.bytes[..<123].withUnsafeBytes { CRC32C.checksum($0) }
        let continued = Self.bytes[123...].withUnsafeBytes { CRC32C.checksum($0, seed: first) }
        #expect(continued == whole)
    }
}
