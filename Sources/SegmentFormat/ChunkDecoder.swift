import StrataCore

/// Turns a block (already checked against its CRC32C) back into a column vector, and
/// checks what it decoded against the footer: null count, and min/max for integers.
public enum ChunkDecoder {
    public static func decode(stored: UnsafeRawBufferPointer, meta: ChunkMeta, rowCount n: Int,
                              type: LogicalType, reference: ColumnVector?) throws -> ColumnVector {
        if meta.compression == .lz4Block {
            let raw = try LZ4Block.decompress(stored, rawLength: Int(meta.rawLength))
            return try raw.withUnsafeBytes { b in
                try decodeRaw(b, meta: meta, rowCount: n, type: type, reference: reference)
            }
        }
        return try decodeRaw(stored, meta: meta, rowCount: n, type: type, reference: reference)
    }

    static func decodeRaw(_ raw: UnsafeRawBufferPointer, meta: ChunkMeta, rowCount n: Int,
                          type: LogicalType, reference: ColumnVector?) throws -> ColumnVector {
        var r = ByteReader(raw)
        let nulls = meta.nullCount
        var validity: Bitmap? = nil
        if nulls > 0 && nulls < n {
            let b = Array(try r.bytes((n + 7) / 8, "validity bitmap"))
            if n & 7 != 0, b[b.count - 1] >> UInt8(n & 7) != 0 { throw FormatError("validity bitmap has bits set past the last row") }
            let bitmap = Bitmap(bytes: b, count: n)
            guard bitmap.setCount == n - nulls else {
                throw FormatError("validity bitmap has \(bitmap.setCount) values, footer says \(n - nulls)")
            }
            validity = bitmap
        } else if nulls == n {
            validity = Bitmap(count: n, allSet: false)
        }
        let m = n - nulls
        let vector: ColumnVector
        if type.isInteger {
            var ref: [Int64]? = nil
            if meta.encoding == .referenceDelta {
                guard let reference else { throw FormatError("REF_DELTA block decoded without its reference column") }
                ref = try gatherReference(reference, validity: validity, count: n)
            }
            let compact = try IntegerCodec.decode(meta.encoding, count: m, ref: ref, from: &r)
            if m > 0 {
                var lo = compact[0], hi = compact[0]
                for v in compact { lo = Swift.min(lo, v); hi = Swift.max(hi, v) }
                guard meta.min == .integer(lo), meta.max == .integer(hi) else {
                    throw FormatError("decoded range \(lo)...\(hi) differs from the footer's statistics")
                }
                let range = type.integerRange
                guard range.contains(lo) && range.contains(hi) else { throw FormatError("value out of range for \(type)") }
            }
            vector = ColumnVector(values: .integers(scatter(compact, validity: validity, count: n)), validity: validity)
        } else {
            switch meta.encoding {
            case .plainString:
                let s = try StringCodec.decodePlain(count: m, from: &r)
                vector = ColumnVector(values: .strings(scatterStrings(s, validity: validity, count: n)), validity: validity)
            case .dictionary:
                let d = try StringCodec.decodeDictionary(count: m, from: &r)
                let codes = scatter(d.codes, validity: validity, count: n)
                vector = ColumnVector(values: .dictionary(codes: codes, dictionary: d.dictionary), validity: validity)
            default:
                throw FormatError("integer encoding \(meta.encoding) on a string column")
            }
        }
        guard r.isAtEnd else { throw FormatError("\(r.remaining) unexpected bytes after the values") }
        return vector
    }

    /// The reference column's values at the rows this block holds values for.
    static func gatherReference(_ ref: ColumnVector, validity: Bitmap?, count n: Int) throws -> [Int64] {
        guard case .integers(let all) = ref.values, all.count == n else { throw FormatError("reference column is not an integer column of \(n) rows") }
        if validity == nil && ref.validity == nil { return all }
        if let refValidity = ref.validity {
            // Every row with a value here needs a value in the reference.
            let mine = (validity ?? Bitmap(count: n, allSet: true)).bytes
            for (k, (a, b)) in zip(mine, refValidity.bytes).enumerated() where a & ~b != 0 {
                let bit = (a & ~b).trailingZeroBitCount
                throw FormatError("REF_DELTA value in row \(k * 8 + bit) whose reference is null")
            }
        }
        guard let validity else { return all }
        return compact(all, validity: validity)
    }

    /// The values at the set bits of `validity`, in order (a byte of the bitmap at a time).
    static func compact<T: BitwiseCopyable>(_ all: [T], validity: Bitmap) -> [T] {
        let m = validity.setCount
        return [T](unsafeUninitializedCapacity: m) { out, initialized in
            all.withUnsafeBufferPointer { src in
                validity.bytes.withUnsafeBufferPointer { bits in
                    var k = 0
                    for (b, byte) in bits.enumerated() {
                        let base = b << 3
                        if byte == 0xFF && base + 8 <= src.count {
                            for j in 0..<8 { out[k + j] = src[base + j] }
                            k += 8
                            continue
                        }
                        var rest = byte
                        while rest != 0 {
                            out[k] = src[base + rest.trailingZeroBitCount]
                            k += 1
                            rest &= rest - 1
                        }
                    }
                    precondition(k == m)
                }
            }
            initialized = m
        }
    }

    /// Spreads `compact` (the non-null values) over `n` rows, zero at the nulls.
    static func scatter<T: BitwiseCopyable & FixedWidthInteger>(_ compact: [T], validity: Bitmap?, count n: Int) -> [T] {
        guard let validity else { return compact }
        if compact.isEmpty { return [T](repeating: 0, count: n) }
        return [T](unsafeUninitializedCapacity: n) { out, initialized in
            compact.withUnsafeBufferPointer { src in
                validity.bytes.withUnsafeBufferPointer { bits in
                    var k = 0
                    let last = Swift.max(src.count - 1, 0)
                    for (b, byte) in bits.enumerated() {
                        let base = b << 3, end = Swift.min(base + 8, n)
                        if byte == 0xFF && end == base + 8 {
                            for j in 0..<8 { out[base + j] = src[k + j] }
                            k += 8
                            continue
                        }
                        if byte == 0 {
                            for i in base..<end { out[i] = 0 }
                            continue
                        }
                        // Mixed: without a branch per row. `last` keeps the read inside the
                        // values when the rest of the byte is nulls.
                        for i in base..<end {
                            let bit = Int((byte >> UInt8(truncatingIfNeeded: i - base)) & 1)
                            out[i] = src[Swift.min(k, last)] & (0 &- T(truncatingIfNeeded: bit))
                            k &+= bit
                        }
                    }
                    precondition(k == src.count)
                }
            }
            initialized = n
        }
    }

    static func scatterStrings(_ compact: StringColumn, validity: Bitmap?, count n: Int) -> StringColumn {
        guard let validity else { return compact }
        var offsets = [UInt32](repeating: 0, count: n + 1)
        var k = 0
        for i in 0..<n {
            if validity[i] { k += 1 }
            offsets[i + 1] = compact.offsets[k]
        }
        return StringColumn(offsets: offsets, bytes: compact.bytes)
    }
}
