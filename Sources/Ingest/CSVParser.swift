/// RFC 4180 CSV, as Python's csv module writes it: fields separated by commas, records
/// by CRLF or LF, fields with commas, quotes or line breaks in double quotes, quotes
/// inside doubled. Pure functions over bytes.
public enum CSVParser {
    public static let maxFields = 256

    /// Where the record starting at `start` ends: the index of its terminating LF (or
    /// `buffer.count` if the buffer ends first), and whether the terminator was found.
    /// Line breaks inside quotes belong to the record.
    public static func recordEnd(_ buffer: UnsafeRawBufferPointer, from start: Int) -> (end: Int, complete: Bool) {
        var inQuotes = false
        var i = start
        let n = buffer.count
        while i < n {
            let c = buffer[i]
            if c == 0x22 { inQuotes.toggle() } else if c == 0x0A && !inQuotes { return (i, true) }
            i += 1
        }
        return (n, false)
    }

    /// Splits one record (without its LF; a trailing CR is dropped) into fields. The
    /// unescaped bytes go to `scratch`, and `fields` receives each field's range in it.
    public static func fields(of record: UnsafeRawBufferPointer, scratch: inout [UInt8],
                              fields: inout [Range<Int>]) throws(RecordError) {
        scratch.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        var n = record.count
        if n > 0 && record[n - 1] == 0x0D { n -= 1 }
        var i = 0
        while true {
            guard fields.count < maxFields else { throw RecordError(field: nil, message: "more than \(maxFields) fields") }
            let fieldStart = scratch.count
            if i < n && record[i] == 0x22 {
                i += 1
                var closed = false
                while i < n {
                    let c = record[i]
                    if c == 0x22 {
                        if i + 1 < n && record[i + 1] == 0x22 {
                            scratch.append(0x22)
                            i += 2
                            continue
                        }
                        closed = true
                        i += 1
                        break
                    }
                    scratch.append(c)
                    i += 1
                }
                guard closed else { throw RecordError(field: fields.count + 1, message: "unterminated quoted field") }
                guard i == n || record[i] == 0x2C else {
                    throw RecordError(field: fields.count + 1, message: "unexpected character after a closing quote")
                }
            } else {
                while i < n && record[i] != 0x2C {
                    if record[i] == 0x22 { throw RecordError(field: fields.count + 1, message: "quote inside an unquoted field") }
                    scratch.append(record[i])
                    i += 1
                }
            }
            fields.append(fieldStart..<scratch.count)
            if i == n { return }
            i += 1  // the comma
        }
    }
}

/// A problem inside one record; the importer adds the file and line.
public struct RecordError: Error, Equatable {
    /// 1-based field number in the record, or nil for the record as a whole.
    public let field: Int?
    public let message: String
}
