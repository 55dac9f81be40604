import StrataCore

/// Appends decoded rows to one column vector per schema column, checking every value
/// against the schema (type, range, enum values, nullability, UTF-8, length).
public struct RowBatch {
    public static let maxStringBytes = Tables.maxStringBytes

    public let schema: TableSchema
    public private(set) var columns: [ColumnVector]
    private let enumValues: [Set<ArraySlice<UInt8>>?]

    public init(schema: TableSchema, capacity: Int) {
        self.schema = schema
        columns = schema.columns.map { var v = ColumnVector.empty(for: $0.type); v.reserveCapacity(capacity); return v }
        enumValues = schema.columns.map { def in
            if case .enumeration(let values) = def.type { return Set(values.map { Array($0.utf8)[...] }) }
            return nil
        }
    }

    public var count: Int { columns[0].count }

    /// Hands the rows over and starts empty.
    public mutating func take() -> [ColumnVector] {
        let out = columns
        columns = schema.columns.map { ColumnVector.empty(for: $0.type) }
        return out
    }

    /// Drops a partly appended row (so a bad row leaves the batch as it was).
    public mutating func truncate(to n: Int) {
        for i in columns.indices where columns[i].count > n { columns[i] = columns[i].slice(0, n) }
    }

    // MARK: values from text (CSV)

    /// Appends a value given as text; empty text is null for nullable columns, the
    /// empty string for non-nullable strings, and an error otherwise.
    public mutating func appendText(_ text: UnsafeRawBufferPointer, column c: Int) throws(RecordError) {
        let def = schema.columns[c]
        if text.isEmpty {
            if def.nullable { columns[c].appendNull(); return }
            if case .string = def.type { columns[c].appendString(EmptyCollection<UInt8>()); return }
            throw RecordError(field: nil, message: "missing value (the column is not nullable)")
        }
        switch def.type {
        case .timestamp:
            guard let ms = Timestamp.parse(text) else { throw RecordError(field: nil, message: "invalid timestamp \(quote(text)) (RFC 3339 expected, e.g. 2026-10-23T07:51:50.288Z)") }
            columns[c].appendInteger(ms)
        case .int8, .int32, .int64:
            guard let v = parseInteger(text) else { throw RecordError(field: nil, message: "invalid integer \(quote(text))") }
            try appendInteger(v, column: c)
        case .string, .enumeration:
            try appendString(text, column: c)
        }
    }

    public mutating func appendInteger(_ v: Int64, column c: Int) throws(RecordError) {
        let def = schema.columns[c]
        guard def.type.isInteger else { throw RecordError(field: nil, message: "expected a string, got an integer") }
        guard def.type.integerRange.contains(v) else {
            throw RecordError(field: nil, message: "\(v) is out of range for \(def.type) (\(def.type.integerRange))")
        }
        if def.type == .timestamp && !(Timestamp.minMs...Timestamp.maxMs).contains(v) {
            throw RecordError(field: nil, message: "timestamp \(v) ms is outside years 1-9999")
        }
        columns[c].appendInteger(v)
    }

    public mutating func appendString(_ bytes: UnsafeRawBufferPointer, column c: Int) throws(RecordError) {
        let def = schema.columns[c]
        guard !def.type.isInteger else { throw RecordError(field: nil, message: "expected \(def.type), got a string") }
        guard bytes.count <= RowBatch.maxStringBytes else {
            throw RecordError(field: nil, message: "string of \(bytes.count) bytes is over the limit of \(RowBatch.maxStringBytes)")
        }
        guard isValidUTF8(bytes) else { throw RecordError(field: nil, message: "invalid UTF-8") }
        if let allowed = enumValues[c], !allowed.contains(Array(bytes)[...]) {
            guard case .enumeration(let values) = def.type else { preconditionFailure() }
            throw RecordError(field: nil, message: "\(quote(bytes)) is not one of \(values.joined(separator: ", "))")
        }
        columns[c].appendString(bytes)
    }

    public mutating func appendNull(column c: Int) throws(RecordError) {
        guard schema.columns[c].nullable else { throw RecordError(field: nil, message: "null in a column that is not nullable") }
        columns[c].appendNull()
    }
}

@inline(__always)
func parseInteger(_ b: UnsafeRawBufferPointer) -> Int64? { DecimalInteger.parse(b) }

@inline(__always)
func isValidUTF8(_ b: UnsafeRawBufferPointer) -> Bool {
    var ascii = true
    for c in b where c >= 0x80 { ascii = false; break }
    if ascii { return true }
    return String(validating: b.bindMemory(to: UInt8.self), as: UTF8.self) != nil
}

func quote(_ b: UnsafeRawBufferPointer) -> String {
    let s = String(decoding: b.prefix(80), as: UTF8.self)
    return "\"" + s + (b.count > 80 ? "…" : "") + "\""
}
