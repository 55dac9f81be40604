import StrataCore

/// Decodes chosen rows of a block and no others: what a point lookup needs from the
/// columns it did not filter on. The block is still checked against its CRC32C (by the
/// reader) and decompressed whole; then packed streams are walked miniblock by miniblock,
/// unpacking only the values asked for (or, for the running sums of DELTA, DELTA_OF_DELTA
/// and string lengths, those up to the last one asked for).
///
/// Checks: the validity bitmap as in a full decode, every integer against the footer's
/// min/max and the type's range, every dictionary code against the dictionary, every
/// string against the block's end. What is not decoded is not checked beyond its CRC.
enum RowDecoder {
    /// Rows `rows` (ascending, each < `n`) of a block. `reference` is the REF_DELTA
    /// reference column decoded at the same rows.
    static func decode(stored: UnsafeRawBufferPointer, meta: ChunkMeta, rowCount n: Int, type: LogicalType,
                       rows: [Int], reference: ColumnVector?) throws -> ColumnVector {
        if meta.compression == .lz4Block {
            let raw = try LZ4Block.decompress(stored, rawLength: Int(meta.rawLength))
            return try raw.withUnsafeBytes { try decodeRaw($0, meta: meta, rowCount: n, type: type, rows: rows, reference: reference) }
        }
        return try decodeRaw(stored, meta: meta, rowCount: n, type: type, rows: rows, reference: reference)
    }

    static func decodeRaw(_ raw: UnsafeRawBufferPointer, meta: ChunkMeta, rowCount n: Int, type: LogicalType,
                          rows: [Int], reference: ColumnVector?) throws -> ColumnVector {
        precondition(zip(rows, rows.dropFirst()).allSatisfy { $0 < $1 } && (rows.last ?? 0) < max(n, 1))
        var r = ByteReader(raw)
        let nulls = meta.nullCount
        // For each wanted row: its index among the block's values, or nil when null.
        var valueIndex = [Int?](repeating: nil, count: rows.count)
        if nulls == 0 {
            for (k, row) in rows.enumerated() { valueIndex[k] = row }
        } else if nulls < n {
            let b = try r.bytes((n + 7) / 8, "validity bitmap")
            if n & 7 != 0, b[b.count - 1] >> UInt8(n & 7) != 0 { throw FormatError("validity bitmap has bits set past the last row") }
            var set = 0, k = 0
            for (byteIndex, byte) in b.enumerated() {
                while k < rows.count && rows[k] >> 3 == byteIndex {
                    let bit = rows[k] & 7
                    if byte & (1 << UInt8(bit)) != 0 { valueIndex[k] = set + (byte & ((1 << UInt8(bit)) - 1)).nonzeroBitCount }
                    k += 1
                }
                set += byte.nonzeroBitCount
            }
            guard set == n - nulls else { throw FormatError("validity bitmap has \(set) values, footer says \(n - nulls)") }
        }
        let m = n - nulls
        let present = valueIndex.compactMap { $0 }
        var validity: Bitmap? = nil
        if nulls > 0 {
            var v = Bitmap(count: rows.count, allSet: false)
            for (k, i) in valueIndex.enumerated() where i != nil { v[k] = true }
            validity = v
        }
        if type.isInteger {
            var ref: [Int64]? = nil
            if meta.encoding == .referenceDelta {
                guard let reference, case .integers(let all) = reference.values, all.count == rows.count else {
                    throw FormatError("REF_DELTA block decoded without its reference column")
                }
                var picked = [Int64]()
                for (k, i) in valueIndex.enumerated() where i != nil {
                    guard !reference.isNull(k) else { throw FormatError("REF_DELTA value in row \(rows[k]) whose reference is null") }
                    picked.append(all[k])
                }
                ref = picked
            }
            let values = try IntegerCodec.values(at: present, meta.encoding, count: m, ref: ref, from: &r)
            let range = type.integerRange
            for v in values {
                guard case .integer(let lo)? = meta.min, case .integer(let hi)? = meta.max, v >= lo && v <= hi else {
                    throw FormatError("decoded value \(v) lies outside the footer's statistics")
                }
                guard range.contains(v) else { throw FormatError("value out of range for \(type)") }
            }
            var out = [Int64](repeating: 0, count: rows.count), j = 0
            for (k, i) in valueIndex.enumerated() where i != nil { out[k] = values[j]; j += 1 }
            return ColumnVector(values: .integers(out), validity: validity)
        }
        switch meta.encoding {
        case .plainString:
            let picked = try StringCodec.plainValues(at: present, count: m, from: &r)
            var out = StringColumn(), j = 0
            for i in valueIndex {
                if i == nil { out.append([UInt8]()) } else { out.append(picked[j]); j += 1 }
            }
            return ColumnVector(values: .strings(out), validity: validity)
        case .dictionary:
            let words = try r.count("dictionary size", limit: StringCodec.maxDictionarySize)
            guard words > 0 || m == 0 else { throw FormatError("empty dictionary for \(m) values") }
            let dict = try StringCodec.decodePlain(count: words, from: &r)
            let raw = try r.u8("dictionary codes encoding")
            guard let e = Encoding(rawValue: raw), e == .frameOfReference || e == .runLength else {
                throw FormatError("dictionary codes encoding \(raw) is not FOR or RLE")
            }
            let codes = try IntegerCodec.values(at: present, e, count: m, ref: nil, from: &r)
            var out = [UInt32](repeating: 0, count: rows.count), j = 0
            for (k, i) in valueIndex.enumerated() where i != nil {
                guard codes[j] >= 0 && codes[j] < Int64(words) else { throw FormatError("dictionary code \(codes[j]) out of range 0..<\(words)") }
                out[k] = UInt32(codes[j])
                j += 1
            }
            return ColumnVector(values: .dictionary(codes: out, dictionary: dict), validity: validity)
        default:
            throw FormatError("integer encoding \(meta.encoding) on a string column")
        }
    }
}

extension BitPacking {
    /// Walks a packed stream of `count` values, calling `body(index, value)` for every
    /// value up to index `last` in order; the miniblocks after it are skipped, not unpacked.
    /// Leaves `reader` at the end of the stream.
    static func walk(count: Int, through last: Int, from reader: inout ByteReader, _ body: (Int, UInt64) -> Void) throws {
        // Each miniblock is unpacked from a zero-padded copy, so no load leaves the block.
        var padded = [UInt8](repeating: 0, count: miniblockSize * 8 + 16)
        var values = [UInt64](repeating: 0, count: miniblockSize)
        try walkMiniblocks(count: count, from: &reader) { start, end, w, src in
            guard start <= last else { return }
            let stop = min(end, last + 1)
            if w == 0 {
                for i in start..<stop { body(i, 0) }
                return
            }
            padded.withUnsafeMutableBytes { p in
                p.copyMemory(from: src)
                for k in src.count..<min(src.count + 16, p.count) { p[k] = 0 }
                values.withUnsafeMutableBufferPointer { v in
                    unpack(UnsafeRawPointer(p.baseAddress!), width: w, into: UnsafeMutableBufferPointer(rebasing: v[0..<(end - start)]))
                }
            }
            for i in start..<stop { body(i, values[i - start]) }
        }
    }

    /// The values at `indices` (ascending) of a packed stream of `count` values; leaves
    /// `reader` at the end of the stream.
    static func values(at indices: [Int], count: Int, from reader: inout ByteReader) throws -> [UInt64] {
        var out = [UInt64](), k = 0
        out.reserveCapacity(indices.count)
        try walkMiniblocks(count: count, from: &reader) { start, end, w, src in
            while k < indices.count && indices[k] < end {
                let i = indices[k] - start
                precondition(i >= 0)
                if w == 0 { out.append(0) } else {
                    // The value's bits, read a byte at a time: never past the miniblock.
                    var v: UInt64 = 0, got = 0, bit = i * w
                    while got < w {
                        let byte = UInt64(src[bit >> 3]) >> UInt64(bit & 7)
                        let take = min(8 - (bit & 7), w - got)
                        v |= (byte & ((1 << UInt64(take)) - 1)) << UInt64(got)
                        got += take
                        bit += take
                    }
                    out.append(v)
                }
                k += 1
            }
        }
        guard k == indices.count else { throw FormatError("value \(indices[k]) asked of a stream of \(count)") }
        return out
    }

    /// Each miniblock's (first index, end index, width, packed bytes), in order.
    static func walkMiniblocks(count: Int, from reader: inout ByteReader,
                               _ body: (Int, Int, Int, UnsafeRawBufferPointer) throws -> Void) throws {
        var start = 0
        while start < count {
            let end = min(start + miniblockSize, count)
            let w = Int(try reader.u8("miniblock width"))
            guard w <= 64 else { throw FormatError("miniblock width \(w) is over 64") }
            let src = try reader.bytes(bytes(count: end - start, width: w), "miniblock values")
            try body(start, end, w, src)
            start = end
        }
    }

}

extension IntegerCodec {
    /// The values at `indices` (ascending, each < `count`) of an encoded integer stream.
    /// `ref` holds REF_DELTA's reference values at the same indices.
    static func values(at indices: [Int], _ encoding: Encoding, count: Int, ref: [Int64]?, from r: inout ByteReader) throws -> [Int64] {
        guard let last = indices.last else { return [] }
        guard last < count else { throw FormatError("value \(last) asked of a block of \(count)") }
        switch encoding {
        case .plain:
            let b = try r.bytes(8 * count, "plain values")
            return indices.map { Int64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        case .frameOfReference:
            let base = u(try r.i64("FOR base"))
            return try BitPacking.values(at: indices, count: count, from: &r).map { Int64(bitPattern: $0 &+ base) }
        case .referenceDelta:
            guard let ref, ref.count == indices.count else { throw FormatError("REF_DELTA without its reference values") }
            let base = u(try r.i64("REF_DELTA base"))
            let packed = try BitPacking.values(at: indices, count: count, from: &r)
            return zip(packed, ref).map { Int64(bitPattern: $0 &+ base &+ u($1)) }
        case .delta:
            let first = u(try r.i64("DELTA first value"))
            let minDelta = u(try r.i64("DELTA minimum delta"))
            // Value i is the first plus the deltas of stream indices 0..<i, summed as they come.
            var out = [Int64](), k = 0, running = first
            while k < indices.count && indices[k] == 0 { out.append(Int64(bitPattern: first)); k += 1 }
            if count > 1 {
                try BitPacking.walk(count: count - 1, through: last - 1, from: &r) { j, d in
                    running = running &+ d &+ minDelta
                    while k < indices.count && indices[k] == j + 1 { out.append(Int64(bitPattern: running)); k += 1 }
                }
            }
            return out
        case .deltaOfDelta:
            let first = try r.i64("DELTA_OF_DELTA first value")
            var delta = try r.i64("DELTA_OF_DELTA first delta")
            var out = [Int64](), k = 0
            while k < indices.count && indices[k] == 0 { out.append(first); k += 1 }
            var running = first &+ delta
            while k < indices.count && indices[k] == 1 { out.append(running); k += 1 }
            if count > 2 {
                try BitPacking.walk(count: count - 2, through: last - 2, from: &r) { j, z in
                    delta = delta &+ unzigzag(z)
                    running = running &+ delta
                    while k < indices.count && indices[k] == j + 2 { out.append(running); k += 1 }
                }
            }
            return out
        case .runLength:
            let runCount = try r.count("RLE run count", limit: count)
            let base = u(try r.i64("RLE base"))
            guard runCount > 0 else { throw FormatError("RLE has no runs for \(count) values") }
            let values = try BitPacking.values(at: Array(0..<runCount), count: runCount, from: &r)
            let lengths = try BitPacking.values(at: Array(0..<runCount), count: runCount, from: &r)
            var out = [Int64](), k = 0, pos = 0
            for run in 0..<runCount where k < indices.count {
                let n = lengths[run]
                guard n < UInt64(count - pos) else { throw FormatError("RLE runs cover more than \(count) values") }
                let end = pos + Int(n) + 1
                while k < indices.count && indices[k] < end { out.append(Int64(bitPattern: values[run] &+ base)); k += 1 }
                pos = end
            }
            guard k == indices.count else { throw FormatError("RLE runs cover fewer than \(count) values") }
            return out
        case .plainString, .dictionary:
            throw FormatError("string encoding \(encoding) on an integer column")
        }
    }
}

extension StringCodec {
    /// The strings at `indices` (ascending) of a PLAIN_STRING stream of `count` values.
    static func plainValues(at indices: [Int], count: Int, from r: inout ByteReader) throws -> [[UInt8]] {
        guard let last = indices.last else { return [] }
        guard last < count else { throw FormatError("value \(last) asked of a block of \(count)") }
        // Offsets of values 0...last from the running sum of the lengths.
        var offsets = [UInt64](repeating: 0, count: last + 2)
        try BitPacking.walk(count: count, through: last, from: &r) { i, length in offsets[i + 1] = offsets[i] &+ length }
        let bytes = r.buffer[r.offset...]
        return try indices.map { i in
            let lo = offsets[i], hi = offsets[i + 1]
            guard lo <= hi, hi <= UInt64(bytes.count) else { throw FormatError("string lengths exceed the block") }
            return Array(bytes[(bytes.startIndex + Int(lo))..<(bytes.startIndex + Int(hi))])
        }
    }
}
