/// The logical type of a column, as the write path, the segment format and the query
/// engine see it. Integers and timestamps are held as `Int64` in memory; strings and
/// enumerations as UTF-8 bytes.
public enum LogicalType: Sendable, Equatable, CustomStringConvertible {
    case int8
    case int32
    case int64
    /// Milliseconds since 1970-01-01T00:00:00Z, UTC.
    case timestamp
    case string
    /// A string restricted to a closed set of values (validated on write).
    case enumeration([String])

    public var isInteger: Bool {
        switch self {
        case .int8, .int32, .int64, .timestamp: return true
        case .string, .enumeration: return false
        }
    }

    /// The inclusive range an integer column accepts.
    public var integerRange: ClosedRange<Int64> {
        switch self {
        case .int8: return Int64(Int8.min)...Int64(Int8.max)
        case .int32: return Int64(Int32.min)...Int64(Int32.max)
        default: return Int64.min...Int64.max
        }
    }

    /// Stable code stored in segment footers. Never renumber: add new codes at the end.
    public var code: UInt8 {
        switch self {
        case .int8: return 1
        case .int32: return 2
        case .int64: return 3
        case .timestamp: return 4
        case .string: return 5
        case .enumeration: return 6
        }
    }

    public var description: String {
        switch self {
        case .int8: return "int8"
        case .int32: return "int32"
        case .int64: return "int64"
        case .timestamp: return "timestamp"
        case .string: return "string"
        case .enumeration(let values): return "enum(\(values.joined(separator: ",")))"
        }
    }
}

/// One column of a table.
public struct ColumnDef: Sendable, Equatable {
    public let name: String
    public let type: LogicalType
    public let nullable: Bool
    public let doc: String

    public init(_ name: String, _ type: LogicalType, nullable: Bool = false, doc: String = "") {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.doc = doc
    }
}

/// A table's columns, in storage order. Columns are only ever appended (see
/// docs/format.md, "Versioning"): a reader fills a column missing from an older
/// segment with nulls.
public struct TableSchema: Sendable, Equatable {
    public let name: String
    public let columns: [ColumnDef]
    /// The column that identifies a row (segment id ranges are taken from it).
    public let idColumn: String
    /// The column that places a row in time (segment time ranges are taken from it).
    public let timeColumn: String

    public init(name: String, columns: [ColumnDef], idColumn: String, timeColumn: String) {
        precondition(!columns.isEmpty, "a table has at least one column")
        precondition(Set(columns.map(\.name)).count == columns.count, "column names are unique")
        self.name = name
        self.columns = columns
        self.idColumn = idColumn
        self.timeColumn = timeColumn
        precondition(index(of: idColumn) != nil && index(of: timeColumn) != nil)
    }

    public func index(of column: String) -> Int? {
        columns.firstIndex { $0.name == column }
    }

    public var idColumnIndex: Int { index(of: idColumn)! }
    public var timeColumnIndex: Int { index(of: timeColumn)! }
}
