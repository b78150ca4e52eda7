import NIOCore

/// Rows for PostgreSQL in the two forms the store sends them: one JSON parameter for a statement
/// (`json_populate_recordset(NULL::table, $1)` turns it back into typed rows, NULLs included), or COPY's text
/// format for the bulk of a batch.
///
/// Why not a multi-row `VALUES ($1, …), …`: a 500-turn batch is ~25,000 parameters, and the server spent
/// more time parsing and planning that statement than inserting the rows. One JSON text per table (and one
/// `UPDATE … FROM json_to_recordset` for all the sessions a batch touches) keeps a batch at a handful of
/// round trips, close to what a raw COPY costs.
enum PostgresRows {
    /// `[{"column": value, …}, …]`. Text is stored with U+0000 replaced (PostgreSQL refuses it).
    static func json(columns: [String], rows: [[SQLValue]]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(rows.count * columns.count * 24)
        let keys = columns.map { column -> [UInt8] in
            var key: [UInt8] = []
            appendString(column, to: &key)
            key.append(UInt8(ascii: ":"))
            return key
        }
        out.append(UInt8(ascii: "["))
        for (r, row) in rows.enumerated() {
            if r > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            for (c, value) in row.enumerated() where c < keys.count {
                if c > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: keys[c])
                switch value {
                case .null: out.append(contentsOf: "null".utf8)
                case .int(let n): out.append(contentsOf: String(n).utf8)
                case .double(let d): out.append(contentsOf: (d.isFinite ? String(d) : "null").utf8)
                case .text(let s): appendString(s, to: &out)
                }
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// A JSON string literal (RFC 8259 §7): quote, backslash and control characters escaped.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0a: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0d: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00:
                // U+FFFD: PostgreSQL text cannot hold U+0000.
                out.append(contentsOf: [0xEF, 0xBF, 0xBD])
            case 0x01..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// One row of COPY's text format: tab-separated, `\N` for NULL, backslash escapes; U+0000 as U+FFFD.
    static func appendCopyRow(_ values: [SQLValue], to buffer: inout ByteBuffer) {
        for (i, value) in values.enumerated() {
            if i > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
            switch value {
            case .null: buffer.writeStaticString("\\N")
            case .int(let n): buffer.writeString(String(n))
            case .double(let d): if d.isFinite { buffer.writeString(String(d)) } else { buffer.writeStaticString("\\N") }
            case .text(let s):
                for byte in s.utf8 {
                    switch byte {
                    case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
                    case UInt8(ascii: "\t"): buffer.writeStaticString("\\t")
                    case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
                    case UInt8(ascii: "\r"): buffer.writeStaticString("\\r")
                    case 0x00: buffer.writeBytes([0xEF, 0xBF, 0xBD])
                    default: buffer.writeInteger(byte)
                    }
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }
}
