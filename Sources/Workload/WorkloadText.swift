import StrataCore

/// The workload's text forms, appended to byte buffers: a ticket as a CSV record or an
/// NDJSON object (the columns of `Tables.tickets`, in order; timestamps RFC 3339 with
/// milliseconds), and an event as one NDJSON line of the write API.
enum WorkloadText {
    static let columnNames = Tables.tickets.columns.map(\.name)

    static func csvHeader(to out: inout [UInt8]) {
        out.append(contentsOf: columnNames.joined(separator: ",").utf8)
        out.append(10)
    }

    /// One CSV record: empty for null, quoted only when a value holds `,`, `"` or a line break.
    static func csvRecord(_ row: [FieldValue], to out: inout [UInt8]) {
        for (i, v) in row.enumerated() {
            if i > 0 { out.append(44) }
            switch v {
            case .null: break
            case .integer(let n): appendInteger(n, to: &out)
            case .time(let ms): Timestamp.append(ms, to: &out)
            case .text(let s):
                let needsQuotes = s.utf8.contains { $0 == 44 || $0 == 34 || $0 == 10 || $0 == 13 }
                if !needsQuotes { out.append(contentsOf: s.utf8); continue }
                out.append(34)
                for b in s.utf8 {
                    if b == 34 { out.append(34) }
                    out.append(b)
                }
                out.append(34)
            }
        }
        out.append(10)
    }

    /// One ticket as a JSON object on its own line.
    static func jsonRow(_ row: [FieldValue], to out: inout [UInt8]) {
        out.append(123)
        for (i, v) in row.enumerated() {
            if i > 0 { out.append(44) }
            appendString(columnNames[i], to: &out)
            out.append(58)
            appendValue(v, to: &out)
        }
        out.append(contentsOf: [125, 10])
    }

    /// One event: `{"op":…,"id":…,"writer":…,"vv":{…},"fields":{…}}` and a newline.
    static func event(create: Bool, id: Int64, writer: Writer, vector: [(writer: Writer, count: Int64)],
                      fields: [(column: Int, value: FieldValue)], at: Int64, to out: inout [UInt8]) {
        out.append(contentsOf: create ? #"{"op":"create","id":"#.utf8 : #"{"op":"patch","id":"#.utf8)
        appendInteger(id, to: &out)
        out.append(contentsOf: #","writer":"#.utf8)
        appendString(writer.name, to: &out)
        out.append(contentsOf: #","vv":{"#.utf8)
        for (k, entry) in vector.enumerated() {
            if k > 0 { out.append(44) }
            appendString(entry.writer.name, to: &out)
            out.append(58)
            appendInteger(entry.count, to: &out)
        }
        out.append(contentsOf: #"},"fields":{"#.utf8)
        for (column, value) in fields {
            appendString(columnNames[column], to: &out)
            out.append(58)
            appendValue(value, to: &out)
            out.append(44)
        }
        out.append(contentsOf: #""updated_at":""#.utf8)
        Timestamp.append(at, to: &out)
        out.append(contentsOf: [34, 125, 125, 10])
    }

    static func appendValue(_ v: FieldValue, to out: inout [UInt8]) {
        switch v {
        case .null: out.append(contentsOf: "null".utf8)
        case .integer(let n): appendInteger(n, to: &out)
        case .text(let s): appendString(s, to: &out)
        case .time(let ms):
            out.append(34)
            Timestamp.append(ms, to: &out)
            out.append(34)
        }
    }

    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(34)
        for b in s.utf8 {
            switch b {
            case 34: out.append(contentsOf: [92, 34])
            case 92: out.append(contentsOf: [92, 92])
            case 0..<32:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [92, 117, 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(34)
    }

    static func appendInteger(_ n: Int64, to out: inout [UInt8]) {
        if n == 0 { out.append(48); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var v = n.magnitude
        var k = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 {
                d[k] = UInt8(48 + v % 10)
                v /= 10
                k += 1
            }
            if n < 0 { out.append(45) }
            while k > 0 {
                k -= 1
                out.append(d[k])
            }
        }
    }
}
