import StrataCore

/// Where a segment reader gets its bytes: positioned reads of a file (ColdStore) or
/// memory (tests).
public protocol ByteSource {
    var size: Int { get }
    func read(offset: Int, count: Int) throws -> [UInt8]
}

public struct MemorySource: ByteSource {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var size: Int { bytes.count }
    public func read(offset: Int, count: Int) throws -> [UInt8] {
        precondition(offset >= 0 && count >= 0 && offset + count <= bytes.count)
        return Array(bytes[offset..<offset + count])
    }
}

/// Opens a segment: checks header, trailer and footer, and then reads any column chunk
/// on demand, reading only its block (column projection). Every block is checked
/// against its CRC32C before it is decoded, and every decoded chunk against the footer.
public struct SegmentReader<Source: ByteSource> {
    public let name: String
    public let source: Source
    public let footer: SegmentFooter

    public init(source: Source, name: String) throws {
        self.name = name
        self.source = source
        func fail(_ kind: SegmentError.Kind, _ message: String) -> SegmentError {
            SegmentError(file: name, kind: kind, message: message)
        }
        let size = source.size
        if size == 0 { throw fail(.truncated, "the file is empty (0 bytes)") }
        guard size >= SegmentLayout.headerSize + SegmentLayout.trailerSize else {
            throw fail(.truncated, "\(size) bytes is too short for a segment (at least \(SegmentLayout.headerSize + SegmentLayout.trailerSize))")
        }
        let read = { (offset: Int, count: Int) throws -> [UInt8] in
            do { return try source.read(offset: offset, count: count) } catch {
                throw SegmentError(file: name, kind: .io, message: "reading \(count) bytes at \(offset): \(error)")
            }
        }
        let header = try read(0, SegmentLayout.headerSize)
        let trailer = try read(size - SegmentLayout.trailerSize, SegmentLayout.trailerSize)
        let headMagic = Array(header[0..<8])
        let tailMagic = Array(trailer[12..<20])
        if headMagic != SegmentLayout.magic {
            throw fail(.notASegment, tailMagic == SegmentLayout.magic ? "header magic is damaged" : "no segment magic at the start of the file")
        }
        if tailMagic != SegmentLayout.magic {
            throw fail(.truncated, "no segment magic at the end of the file: truncated or damaged trailer")
        }
        let (footerLength, footerCRC, tailVersion, headVersion, headerCRC) = header.withUnsafeBytes { h in
            trailer.withUnsafeBytes { t in
                (UInt32(littleEndian: t.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
                 UInt32(littleEndian: t.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
                 UInt32(littleEndian: t.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
                 UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 8, as: UInt32.self)),
                 UInt32(littleEndian: h.loadUnaligned(fromByteOffset: 12, as: UInt32.self)))
            }
        }
        guard CRC32C.checksum(Array(header[0..<12])) == headerCRC else {
            throw fail(.corruptHeader, "header checksum mismatch")
        }
        guard headVersion == tailVersion else {
            throw fail(.corruptHeader, "format version \(headVersion) in the header, \(tailVersion) in the trailer")
        }
        guard headVersion == SegmentLayout.formatVersion else {
            throw fail(.unsupportedVersion, headVersion > SegmentLayout.formatVersion
                ? "format version \(headVersion) is newer than this build reads (\(SegmentLayout.formatVersion)); upgrade strata"
                : "format version \(headVersion) is not one this build reads (\(SegmentLayout.formatVersion))")
        }
        let footerSpace = size - SegmentLayout.headerSize - SegmentLayout.trailerSize
        guard Int(footerLength) <= footerSpace, Int(footerLength) <= SegmentLayout.maxFooterBytes, footerLength > 0 else {
            throw fail(.corruptFooter, "footer length \(footerLength) does not fit in the file (\(footerSpace) bytes available)")
        }
        let footerStart = size - SegmentLayout.trailerSize - Int(footerLength)
        let footerBytes = try read(footerStart, Int(footerLength))
        let actual = CRC32C.checksum(footerBytes)
        guard actual == footerCRC else {
            throw fail(.corruptFooter, "footer checksum mismatch (stored \(hex(footerCRC)), computed \(hex(actual)))")
        }
        do {
            footer = try footerBytes.withUnsafeBytes { try SegmentLayout.decodeFooter($0) }
        } catch {
            throw fail(.corruptFooter, "\(error)")
        }
        // Blocks lie back to back from the header to the footer: every byte is accounted for.
        var expected = UInt64(SegmentLayout.headerSize)
        for (g, group) in footer.rowGroups.enumerated() {
            guard group.chunks.count == footer.columns.count else { throw fail(.corruptFooter, "row group \(g) lists \(group.chunks.count) blocks") }
            for (c, m) in group.chunks.enumerated() {
                guard m.offset == expected else {
                    throw fail(.corruptFooter, "row group \(g), column '\(footer.columns[c].name)': block at \(m.offset), expected \(expected)")
                }
                expected += UInt64(m.storedLength)
            }
        }
        guard expected == UInt64(footerStart) else {
            throw fail(.corruptFooter, "blocks end at byte \(expected) but the footer starts at \(footerStart)")
        }
    }

    public var rowCount: Int { footer.rowCount }

    func blockError(_ g: Int, _ c: Int, _ kind: SegmentError.Kind, _ message: String) -> SegmentError {
        let m = footer.rowGroups[g].chunks[c]
        return SegmentError(file: name, kind: kind,
                            block: .init(rowGroup: g, column: footer.columns[c].name, offset: m.offset, length: m.storedLength),
                            message: message)
    }

    /// The stored bytes of one block, checked against its CRC32C.
    public func readBlock(rowGroup g: Int, column c: Int) throws(SegmentError) -> [UInt8] {
        let m = footer.rowGroups[g].chunks[c]
        let bytes: [UInt8]
        do { bytes = try source.read(offset: Int(m.offset), count: Int(m.storedLength)) } catch {
            throw blockError(g, c, .io, "\(error)")
        }
        let actual = CRC32C.checksum(bytes)
        guard actual == m.crc32c else {
            throw blockError(g, c, .corruptBlock, "checksum mismatch (stored \(hex(m.crc32c)), computed \(hex(actual)))")
        }
        return bytes
    }

    /// Decodes the given columns (indices into `footer.columns`) of one row group, and
    /// any column they refer to. Returns vectors keyed by column index. With `rows`
    /// (ascending row numbers in the group), the vectors hold those rows alone, and the
    /// other rows are not decoded (`RowDecoder`): a point lookup.
    public func readRowGroup(_ g: Int, columns: [Int], rows: [Int]? = nil) throws(SegmentError) -> [Int: ColumnVector] {
        precondition(g >= 0 && g < footer.rowGroups.count, "row group \(g) out of range")
        var needed = Set(columns)
        var stack = columns
        while let c = stack.popLast() {
            if let r = footer.rowGroups[g].chunks[c].referenceColumn, !needed.contains(r) {
                needed.insert(r)
                stack.append(r)
            }
        }
        var out = [Int: ColumnVector]()
        for c in needed.sorted() {
            let m = footer.rowGroups[g].chunks[c]
            let stored = try readBlock(rowGroup: g, column: c)
            let reference = m.referenceColumn.flatMap { out[$0] }
            do {
                out[c] = try stored.withUnsafeBytes { b in
                    if let rows {
                        return try RowDecoder.decode(stored: b, meta: m, rowCount: footer.rowGroups[g].rowCount,
                                                     type: footer.columns[c].type, rows: rows, reference: reference)
                    }
                    return try ChunkDecoder.decode(stored: b, meta: m, rowCount: footer.rowGroups[g].rowCount,
                                                   type: footer.columns[c].type, reference: reference)
                }
            } catch {
                throw blockError(g, c, .corruptBlock, "\(error)")
            }
        }
        return out.filter { columns.contains($0.key) }
    }

    /// Checks every block: checksum, then a full decode. Returns every problem found
    /// (one per bad block), empty when the file is sound.
    public func verify() -> [SegmentError] {
        var problems = [SegmentError]()
        for g in footer.rowGroups.indices {
            var bad = Set<Int>()
            for c in footer.columns.indices {
                do { _ = try readBlock(rowGroup: g, column: c) } catch {
                    problems.append(error)
                    bad.insert(c)
                }
            }
            for c in footer.columns.indices where !bad.contains(c) {
                // A block whose reference is bad cannot be decoded; it was reported through its reference.
                if let r = footer.rowGroups[g].chunks[c].referenceColumn, bad.contains(r) { continue }
                do { _ = try readRowGroup(g, columns: [c]) } catch {
                    if error.block?.column == footer.columns[c].name { problems.append(error) }
                    bad.insert(c)
                }
            }
        }
        return problems
    }
}

func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}
