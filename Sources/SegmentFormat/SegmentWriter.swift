import StrataCore

/// Where a segment writer sends its bytes: a file (ColdStore) or memory (tests).
public protocol ByteSink {
    mutating func write(_ bytes: [UInt8]) throws
}

/// Collects bytes in memory.
public struct MemorySink: ByteSink {
    public var bytes: [UInt8] = []
    public init() {}
    public mutating func write(_ b: [UInt8]) { bytes.append(contentsOf: b) }
}

/// Rows that cannot be written: they break the schema (a writer-side assertion; the
/// import and write paths validate input before it gets here).
public struct SegmentWriteError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Streams rows into a segment: buffers at most one row group, encodes it and hands its
/// blocks to the sink, and on `finish` writes the footer and trailer. Memory is bounded
/// by one row group whatever the number of rows.
public struct SegmentWriter<Sink: ByteSink> {
    public static var defaultRowGroupSize: Int { 65_536 }

    public let schema: TableSchema
    public let rowGroupSize: Int
    public private(set) var sink: Sink
    private var pending: [ColumnVector]
    private var groups: [RowGroupMeta] = []
    private var offset: UInt64 = 0
    private let createdBy: String
    private let createdAtMs: Int64
    private var finished = false

    public init(schema: TableSchema, sink: Sink, rowGroupSize: Int = SegmentWriter.defaultRowGroupSize,
                createdBy: String = "strata", createdAtMs: Int64) throws {
        precondition(rowGroupSize > 0 && rowGroupSize <= SegmentLayout.maxRowGroupRows)
        precondition(schema.columns.count <= SegmentLayout.maxColumns)
        self.schema = schema
        self.sink = sink
        self.rowGroupSize = rowGroupSize
        self.createdBy = createdBy
        self.createdAtMs = createdAtMs
        pending = schema.columns.map { ColumnVector.empty(for: $0.type) }
        let header = SegmentLayout.header()
        try self.sink.write(header)
        offset = UInt64(header.count)
    }

    /// Rows written so far (including the buffered row group).
    public var rowCount: Int { groups.reduce(0) { $0 + $1.rowCount } + pending[0].count }

    /// Appends rows given as one vector per schema column, all of one length.
    public mutating func append(_ columns: [ColumnVector]) throws {
        precondition(!finished, "append after finish")
        guard columns.count == schema.columns.count else {
            throw SegmentWriteError(message: "\(columns.count) columns given, table \(schema.name) has \(schema.columns.count)")
        }
        let n = columns[0].count
        for (i, c) in columns.enumerated() {
            guard c.count == n else { throw SegmentWriteError(message: "column \(schema.columns[i].name) has \(c.count) rows, expected \(n)") }
            try Self.check(c, schema.columns[i])
        }
        var start = 0
        while start < n {
            let take = min(rowGroupSize - pending[0].count, n - start)
            for i in 0..<columns.count {
                if start == 0 && take == n && pending[i].count == 0 {
                    pending[i] = columns[i]
                } else {
                    pending[i].append(contentsOf: columns[i].slice(start, take))
                }
            }
            start += take
            if pending[0].count == rowGroupSize { try flushRowGroup() }
        }
    }

    /// Writes the last row group, the footer and the trailer. Returns the footer.
    public mutating func finish() throws -> SegmentFooter {
        precondition(!finished, "finish twice")
        finished = true
        if pending[0].count > 0 { try flushRowGroup() }
        let footer = SegmentFooter(table: schema.name, columns: schema.columns.map(FileColumn.init),
                                   rowGroupSize: rowGroupSize, rowGroups: groups,
                                   createdBy: createdBy, createdAtMs: createdAtMs)
        let bytes = SegmentLayout.encodeFooter(footer)
        guard bytes.count <= SegmentLayout.maxFooterBytes else {
            throw SegmentWriteError(message: "footer of \(bytes.count) bytes is over the limit")
        }
        try sink.write(bytes)
        try sink.write(SegmentLayout.trailer(footerLength: bytes.count, footerCRC: CRC32C.checksum(bytes)))
        return footer
    }

    private mutating func flushRowGroup() throws {
        let rows = pending[0].count
        var metas = [ChunkMeta]()
        var references = [ChunkEncoder.Reference]()
        for (i, def) in schema.columns.enumerated() {
            var block = ChunkEncoder.encode(pending[i], type: def.type, references: references)
            if def.type == .timestamp { references.append(.init(column: i, type: def.type, vector: pending[i])) }
            guard block.stored.count <= SegmentLayout.maxBlockBytes else {
                throw SegmentWriteError(message: "column \(def.name) block of \(block.stored.count) bytes is over the limit")
            }
            block.meta.offset = offset
            try sink.write(block.stored)
            offset += UInt64(block.stored.count)
            metas.append(block.meta)
        }
        groups.append(RowGroupMeta(rowCount: rows, chunks: metas))
        guard groups.count <= SegmentLayout.maxRowGroups else { throw SegmentWriteError(message: "too many row groups") }
        pending = schema.columns.map { ColumnVector.empty(for: $0.type) }
    }

    /// The data must fit the schema before it is written.
    static func check(_ v: ColumnVector, _ def: ColumnDef) throws {
        if !def.nullable && v.nullCount > 0 {
            throw SegmentWriteError(message: "column \(def.name) is not nullable but has \(v.nullCount) nulls")
        }
        switch (def.type, v.values) {
        case (.int8, .integers(let a)), (.int32, .integers(let a)):
            let range = def.type.integerRange
            for i in 0..<a.count where !v.isNull(i) && !range.contains(a[i]) {
                throw SegmentWriteError(message: "column \(def.name) value \(a[i]) is out of range for \(def.type)")
            }
        case (.int64, .integers), (.timestamp, .integers): break
        case (.string, .strings), (.string, .dictionary): break
        case (.enumeration(let allowed), .strings(let s)):
            var table = ByteStringTable()
            for a in allowed { _ = Array(a.utf8).withUnsafeBytes { table.code(of: $0) } }
            for i in 0..<s.count where !v.isNull(i) {
                if s.withBytes(at: i, { table.code(of: $0, insert: false) }) == nil {
                    throw SegmentWriteError(message: "column \(def.name) value '\(s.string(at: i))' is not one of its enum values")
                }
            }
        case (.enumeration(let allowed), .dictionary(_, let dict)):
            let set = Set(allowed.map { Array($0.utf8)[...] })
            for i in 0..<dict.count where !set.contains(dict.bytes(at: i)) {
                throw SegmentWriteError(message: "column \(def.name) value '\(dict.string(at: i))' is not one of its enum values")
            }
        default:
            throw SegmentWriteError(message: "column \(def.name) of type \(def.type) was given the wrong kind of values")
        }
    }
}
