import Foundation

/// JSON text of values parsed with JSONSerialization, byte for byte what
/// `JSONSerialization.data(withJSONObject:options: [.sortedKeys])` writes, without its cost (re-serialising
/// the usage object alone was several per cent of a record's CPU time). It covers what provider payloads hold:
/// objects, arrays, strings, integers, booleans and null, with keys of `[a-z0-9_]`; for anything else (a
/// fraction, another key alphabet) it returns nil and the caller asks JSONSerialization.
enum JSONText {
    static func write(_ value: Any) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        guard append(value, to: &out) else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    private static let boolType = ObjectIdentifier(type(of: NSNumber(value: true)))

    private static func append(_ value: Any, to out: inout [UInt8]) -> Bool {
        switch value {
        case let s as String:
            appendString(s, to: &out)
        case let n as NSNumber:
            if ObjectIdentifier(type(of: n)) == boolType {
                out.append(contentsOf: n.boolValue ? Array("true".utf8) : Array("false".utf8))
                return true
            }
            switch n.objCType.pointee {
            case CChar(UInt8(ascii: "i")), CChar(UInt8(ascii: "q")), CChar(UInt8(ascii: "l")), CChar(UInt8(ascii: "s")):
                out.append(contentsOf: String(n.int64Value).utf8)
            default:
                return false
            }
        case is NSNull:
            out.append(contentsOf: "null".utf8)
        case let object as [String: Any]:
            var keys: [[UInt8]] = []
            keys.reserveCapacity(object.count)
            for key in object.keys {
                let bytes = Array(key.utf8)
                guard plainKey(bytes) else { return false }
                keys.append(bytes)
            }
            keys.sort(by: precedes)
            out.append(UInt8(ascii: "{"))
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: key)
                out.append(contentsOf: "\":".utf8)
                guard let member = object[String(decoding: key, as: UTF8.self)], append(member, to: &out) else { return false }
            }
            out.append(UInt8(ascii: "}"))
        case let array as [Any]:
            out.append(UInt8(ascii: "["))
            for (i, element) in array.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                guard append(element, to: &out) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        default:
            return false
        }
        return true
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// JSONSerialization's escaping: quote, backslash and `/` escaped, the short forms of \b \t \n \f \r,
    /// other controls as `\u00xx`; everything else (DEL and non-ASCII included) as it is.
    private static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                out.append(UInt8(ascii: "\\"))
                out.append(b)
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0a: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0c: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0d: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x00..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(b >> 4)], hex[Int(b & 0x0f)]])
            default:
                out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A key whose order this type knows: non-empty, `[a-z0-9_]`, no digit run with a leading zero (where the
    /// numeric comparison JSONSerialization sorts with would need its tie-break).
    private static func plainKey(_ key: [UInt8]) -> Bool {
        guard !key.isEmpty else { return false }
        var previousIsDigit = false
        for (i, b) in key.enumerated() {
            let digit = b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
            guard digit || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || b == UInt8(ascii: "_") else { return false }
            if digit, !previousIsDigit, b == UInt8(ascii: "0"), i + 1 < key.count,
               key[i + 1] >= UInt8(ascii: "0"), key[i + 1] <= UInt8(ascii: "9") { return false }
            previousIsDigit = digit
        }
        return true
    }

    /// JSONSerialization's `.sortedKeys` order on plain keys: `_` before digits before letters, digit runs by
    /// their value, a prefix first.
    private static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var i = 0
        var j = 0
        while i < a.count && j < b.count {
            let x = a[i], y = b[j]
            if isDigit(x) && isDigit(y) {
                var iEnd = i, jEnd = j
                while iEnd < a.count && isDigit(a[iEnd]) { iEnd += 1 }
                while jEnd < b.count && isDigit(b[jEnd]) { jEnd += 1 }
                // No leading zeros (plainKey): the longer run is the larger number.
                if iEnd - i != jEnd - j { return iEnd - i < jEnd - j }
                if let k = (0..<(iEnd - i)).first(where: { a[i + $0] != b[j + $0] }) { return a[i + k] < b[j + k] }
                i = iEnd
                j = jEnd
                continue
            }
            if x != y { return rank(x) < rank(y) }
            i += 1
            j += 1
        }
        return a.count - i < b.count - j
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// `_` < digits < letters.
    private static func rank(_ b: UInt8) -> Int {
        b == UInt8(ascii: "_") ? 0 : isDigit(b) ? 1 + Int(b) : 0x100 + Int(b)
    }
}
