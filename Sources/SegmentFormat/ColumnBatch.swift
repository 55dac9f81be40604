import StrataCore

/// A run of rows of one row group, one vector per requested column.
public struct ColumnBatch: Sendable {
    public let rowGroup: Int
    /// Row number (in the segment) of the batch's first row.
    public let firstRow: Int
    public let columns: [ColumnVector]
    public var count: Int { columns.first?.count ?? 0 }
}

extension SegmentReader {
    /// Decodes the named columns of one row group as the table schema declares them.
    /// A column the file lacks (added to the schema after the file was written) reads
    /// as all nulls; such columns must be nullable (docs/format.md, "Versioning").
    /// With `rows`, only those rows of the group (ascending), as `readRowGroup(_:columns:rows:)`.
    public func readRowGroup(_ g: Int, table: TableSchema, columns names: [String], rows picked: [Int]? = nil) throws -> [ColumnVector] {
        let rows = picked?.count ?? footer.rowGroups[g].rowCount
        var fileIndices = [Int]()
        for name in names {
            guard let def = table.columns.first(where: { $0.name == name }) else {
                throw SegmentError(file: self.name, kind: .invalidData, message: "table \(table.name) has no column '\(name)'")
            }
            if let i = footer.columnIndex(name) {
                guard footer.columns[i].type.isInteger == def.type.isInteger else {
                    throw SegmentError(file: self.name, kind: .invalidData,
                                       message: "column '\(name)' is \(footer.columns[i].type) in the file but \(def.type) in the schema")
                }
                fileIndices.append(i)
            }
        }
        let decoded = try readRowGroup(g, columns: fileIndices, rows: picked)
        return try names.map { name in
            if let i = footer.columnIndex(name) { return decoded[i]! }
            let def = table.columns.first { $0.name == name }!
            guard def.nullable else {
                throw SegmentError(file: self.name, kind: .invalidData,
                                   message: "column '\(name)' is missing from the file and is not nullable")
            }
            let values: ColumnValues = def.type.isInteger
                ? .integers([Int64](repeating: 0, count: rows))
                : .strings(StringColumn(offsets: [UInt32](repeating: 0, count: rows + 1), bytes: []))
            return ColumnVector(values: values, validity: Bitmap(count: rows, allSet: false))
        }
    }

    /// Iterates over the segment in batches of at most `batchSize` rows (the query
    /// engine's vectors), decoding one row group at a time.
    public func batches(table: TableSchema, columns: [String], batchSize: Int = 2048) -> BatchIterator<Source> {
        precondition(batchSize > 0)
        return BatchIterator(reader: self, table: table, columns: columns, batchSize: batchSize)
    }
}

public struct BatchIterator<Source: ByteSource> {
    let reader: SegmentReader<Source>
    let table: TableSchema
    let columns: [String]
    let batchSize: Int
    var group = 0
    var offset = 0
    var firstRowOfGroup = 0
    var current: [ColumnVector]? = nil

    /// The next batch, or nil at the end.
    public mutating func next() throws -> ColumnBatch? {
        while group < reader.footer.rowGroups.count {
            let rows = reader.footer.rowGroups[group].rowCount
            if current == nil { current = try reader.readRowGroup(group, table: table, columns: columns) }
            if offset < rows {
                let n = min(batchSize, rows - offset)
                let cols = n == rows ? current! : current!.map { $0.slice(offset, n) }
                let batch = ColumnBatch(rowGroup: group, firstRow: firstRowOfGroup + offset, columns: cols)
                offset += n
                return batch
            }
            firstRowOfGroup += rows
            group += 1
            offset = 0
            current = nil
        }
        return nil
    }
}
