import StrataCore

/// A column as a segment file declares it (the table schema at the time of writing).
public struct FileColumn: Sendable, Equatable {
    public let name: String
    public let type: LogicalType
    public let nullable: Bool

    public init(name: String, type: LogicalType, nullable: Bool) {
        self.name = name
        self.type = type
        self.nullable = nullable
    }

    public init(_ def: ColumnDef) { self.init(name: def.name, type: def.type, nullable: def.nullable) }
}

/// A chunk's min or max: integers for integer columns, bytes for string columns.
public enum StatValue: Sendable, Equatable, CustomStringConvertible {
    case integer(Int64)
    case bytes([UInt8])

    public var description: String {
        switch self {
        case .integer(let v): return String(v)
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        }
    }
}

/// Where one column chunk's block lies, how it is encoded, and its statistics.
public struct ChunkMeta: Sendable, Equatable {
    public var offset: UInt64
    /// Bytes on disk (after compression).
    public var storedLength: UInt32
    /// Bytes of the encoded payload (before compression).
    public var rawLength: UInt32
    /// CRC32C of the stored bytes.
    public var crc32c: UInt32
    public var compression: Compression
    public var encoding: Encoding
    /// For REF_DELTA: the column (index in the file) whose values are the reference.
    public var referenceColumn: Int?
    public var nullCount: Int
    /// Smallest and largest non-null value; nil when the chunk is all null, or for
    /// strings longer than `ChunkMeta.maxStatBytes`.
    public var min: StatValue?
    public var max: StatValue?

    public static let maxStatBytes = 64
}

public struct RowGroupMeta: Sendable, Equatable {
    public var rowCount: Int
    public var chunks: [ChunkMeta]
}

/// The footer: everything a reader needs to find and decode any block.
public struct SegmentFooter: Sendable, Equatable {
    public var table: String
    public var columns: [FileColumn]
    /// The row count of every row group but the last.
    public var rowGroupSize: Int
    public var rowGroups: [RowGroupMeta]
    public var createdBy: String
    public var createdAtMs: Int64

    public var rowCount: Int { rowGroups.reduce(0) { $0 + $1.rowCount } }

    public func columnIndex(_ name: String) -> Int? { columns.firstIndex { $0.name == name } }
}

/// Constants and codecs of the fixed parts of a segment file.
public enum SegmentLayout {
    public static let magic: [UInt8] = Array("STRATASG".utf8)
    public static let formatVersion: UInt32 = 1
    /// magic(8) version(u32) crc32c-of-the-first-12-bytes(u32)
    public static let headerSize = 16
    /// footer_length(u32) footer_crc32c(u32) version(u32) magic(8)
    public static let trailerSize = 20

    public static let maxColumns = 1024
    public static let maxRowGroups = 1 << 20
    public static let maxRowGroupRows = 1 << 24
    public static let maxFooterBytes = 64 << 20
    public static let maxBlockBytes = 1 << 30
    public static let maxEnumValues = 4096

    public static func header() -> [UInt8] {
        var w = ByteWriter(capacity: headerSize)
        w.raw(magic)
        w.u32(formatVersion)
        let crc = CRC32C.checksum(w.bytes)
        w.u32(crc)
        return w.bytes
    }

    public static func trailer(footerLength: Int, footerCRC: UInt32) -> [UInt8] {
        var w = ByteWriter(capacity: trailerSize)
        w.u32(UInt32(footerLength))
        w.u32(footerCRC)
        w.u32(formatVersion)
        w.raw(magic)
        return w.bytes
    }

    // MARK: footer codec

    public static func encodeFooter(_ f: SegmentFooter) -> [UInt8] {
        var w = ByteWriter(capacity: 256 + f.rowGroups.count * f.columns.count * 48)
        w.shortString(f.table)
        w.u32(UInt32(f.columns.count))
        for c in f.columns {
            w.shortString(c.name)
            w.u8(c.type.code)
            w.u8(c.nullable ? 1 : 0)
            if case .enumeration(let values) = c.type {
                w.u16(UInt16(values.count))
                for v in values { w.shortString(v) }
            }
        }
        w.u32(UInt32(f.rowGroupSize))
        w.u32(UInt32(f.rowGroups.count))
        for g in f.rowGroups {
            w.u32(UInt32(g.rowCount))
            for (ci, m) in g.chunks.enumerated() {
                w.u64(m.offset)
                w.u32(m.storedLength)
                w.u32(m.rawLength)
                w.u32(m.crc32c)
                w.u8(m.compression.rawValue)
                w.u8(m.encoding.rawValue)
                w.u16(m.referenceColumn.map { UInt16($0) } ?? 0xFFFF)
                w.u32(UInt32(m.nullCount))
                if let min = m.min, let max = m.max {
                    w.u8(1)
                    if f.columns[ci].type.isInteger {
                        guard case .integer(let a) = min, case .integer(let b) = max else { preconditionFailure() }
                        w.i64(a)
                        w.i64(b)
                    } else {
                        guard case .bytes(let a) = min, case .bytes(let b) = max else { preconditionFailure() }
                        w.shortBytes(a[...])
                        w.shortBytes(b[...])
                    }
                } else {
                    w.u8(0)
                }
            }
        }
        w.shortString(f.createdBy)
        w.i64(f.createdAtMs)
        return w.bytes
    }

    public static func decodeFooter(_ bytes: UnsafeRawBufferPointer) throws -> SegmentFooter {
        var r = ByteReader(bytes)
        let table = try r.shortString("table name")
        let columnCount = try r.count("column count", limit: maxColumns)
        guard columnCount > 0 else { throw FormatError("footer declares no columns") }
        var columns = [FileColumn]()
        for _ in 0..<columnCount {
            let name = try r.shortString("column name")
            let code = try r.u8("column type")
            let nullableByte = try r.u8("column nullability")
            guard nullableByte <= 1 else { throw FormatError("column '\(name)' nullability byte \(nullableByte) is not 0 or 1") }
            let type: LogicalType
            switch code {
            case 1: type = .int8
            case 2: type = .int32
            case 3: type = .int64
            case 4: type = .timestamp
            case 5: type = .string
            case 6:
                let n = Int(try r.u16("enum value count"))
                guard n > 0 && n <= maxEnumValues else { throw FormatError("column '\(name)' has \(n) enum values") }
                var values = [String]()
                for _ in 0..<n { values.append(try r.shortString("enum value")) }
                type = .enumeration(values)
            default: throw FormatError("column '\(name)' has unknown type code \(code)")
            }
            if columns.contains(where: { $0.name == name }) { throw FormatError("column '\(name)' declared twice") }
            columns.append(FileColumn(name: name, type: type, nullable: nullableByte == 1))
        }
        let rowGroupSize = Int(try r.u32("row group size"))
        guard rowGroupSize > 0 && rowGroupSize <= maxRowGroupRows else { throw FormatError("row group size \(rowGroupSize) out of range") }
        let groupCount = try r.count("row group count", limit: maxRowGroups)
        var groups = [RowGroupMeta]()
        groups.reserveCapacity(groupCount)
        for g in 0..<groupCount {
            let rows = Int(try r.u32("row group row count"))
            guard rows > 0 && rows <= rowGroupSize else { throw FormatError("row group \(g) has \(rows) rows, size is \(rowGroupSize)") }
            if g < groupCount - 1 && rows != rowGroupSize {
                throw FormatError("row group \(g) has \(rows) rows; only the last may have fewer than \(rowGroupSize)")
            }
            var chunks = [ChunkMeta]()
            chunks.reserveCapacity(columnCount)
            for c in 0..<columnCount {
                let offset = try r.u64("block offset")
                let stored = try r.u32("block stored length")
                let raw = try r.u32("block raw length")
                let crc = try r.u32("block checksum")
                let compressionByte = try r.u8("block compression")
                let encodingByte = try r.u8("block encoding")
                let ref = try r.u16("block reference column")
                let nulls = Int(try r.u32("block null count"))
                guard let compression = Compression(rawValue: compressionByte) else {
                    throw FormatError("row group \(g), column '\(columns[c].name)': unknown compression \(compressionByte)")
                }
                guard let encoding = Encoding(rawValue: encodingByte) else {
                    throw FormatError("row group \(g), column '\(columns[c].name)': unknown encoding \(encodingByte)")
                }
                guard nulls <= rows else { throw FormatError("row group \(g), column '\(columns[c].name)': \(nulls) nulls in \(rows) rows") }
                guard nulls == 0 || columns[c].nullable else {
                    throw FormatError("row group \(g), column '\(columns[c].name)': nulls in a non-nullable column")
                }
                var refColumn: Int? = nil
                if ref != 0xFFFF {
                    guard Int(ref) < c, encoding == .referenceDelta else {
                        throw FormatError("row group \(g), column '\(columns[c].name)': bad reference column \(ref)")
                    }
                    refColumn = Int(ref)
                }
                guard (encoding == .referenceDelta) == (refColumn != nil) else {
                    throw FormatError("row group \(g), column '\(columns[c].name)': REF_DELTA without a reference column")
                }
                guard encoding.isInteger == columns[c].type.isInteger else {
                    throw FormatError("row group \(g), column '\(columns[c].name)': encoding \(encoding) does not fit type \(columns[c].type)")
                }
                guard Int(raw) <= maxBlockBytes, Int(stored) <= maxBlockBytes else {
                    throw FormatError("row group \(g), column '\(columns[c].name)': block over \(maxBlockBytes) bytes")
                }
                guard compression == .lz4Block || raw == stored else {
                    throw FormatError("row group \(g), column '\(columns[c].name)': uncompressed block with raw length \(raw) != stored \(stored)")
                }
                let hasStats = try r.u8("stats flag")
                var minV: StatValue? = nil
                var maxV: StatValue? = nil
                switch hasStats {
                case 0: break
                case 1:
                    if columns[c].type.isInteger {
                        let a = try r.i64("min"), b = try r.i64("max")
                        guard a <= b else { throw FormatError("row group \(g), column '\(columns[c].name)': min > max") }
                        minV = .integer(a); maxV = .integer(b)
                    } else {
                        let a = try r.shortBytes("min"), b = try r.shortBytes("max")
                        guard !b.lexicographicallyPrecedes(a) else { throw FormatError("row group \(g), column '\(columns[c].name)': min > max") }
                        minV = .bytes(a); maxV = .bytes(b)
                    }
                default: throw FormatError("row group \(g), column '\(columns[c].name)': stats flag \(hasStats)")
                }
                chunks.append(ChunkMeta(offset: offset, storedLength: stored, rawLength: raw, crc32c: crc,
                                        compression: compression, encoding: encoding, referenceColumn: refColumn,
                                        nullCount: nulls, min: minV, max: maxV))
            }
            groups.append(RowGroupMeta(rowCount: rows, chunks: chunks))
        }
        let createdBy = try r.shortString("created by")
        let createdAt = try r.i64("created at")
        guard r.isAtEnd else { throw FormatError("\(r.remaining) unexpected bytes at the end of the footer") }
        return SegmentFooter(table: table, columns: columns, rowGroupSize: rowGroupSize, rowGroups: groups,
                             createdBy: createdBy, createdAtMs: createdAt)
    }
}
