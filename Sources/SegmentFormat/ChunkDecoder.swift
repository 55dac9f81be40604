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
                let codes = scatterCodes(d.codes, validity: validity, count: n)
                vector = ColumnVector(values: .dictionary(codes: codes, dictionary: d.dictionary), validity: validity)
            default:
                throw FormatError("integer encoding \(meta.encoding) on a string column")
            }
        }
        guard r.isAtEnd else { throw FormatError("\(r.remaining) unexpected bytes after the values") }
        return vector
    }

    static func gatherReference(_ ref: ColumnVector, validity: Bitmap?, count n: Int) throws -> [Int64] {
        guard case .integers(let all) = ref.values, all.count == n else { throw FormatError("reference column is not an integer column of \(n) rows") }
        if validity == nil && ref.validity == nil { return all }
        var out = [Int64]()
        for i in 0..<n where validity?[i] ?? true {
            guard !ref.isNull(i) else { throw FormatError("REF_DELTA value in row \(i) whose reference is null") }
            out.append(all[i])
        }
        return out
    }

    static func scatter(_ compact: [Int64], validity: Bitmap?, count n: Int) -> [Int64] {
        guard let validity else { return compact }
        var out = [Int64](repeating: 0, count: n)
        var k = 0
        for i in 0..<n where validity[i] {
            out[i] = compact[k]
            k += 1
        }
        return out
    }

    static func scatterCodes(_ compact: [UInt32], validity: Bitmap?, count n: Int) -> [UInt32] {
        guard let validity else { return compact }
        var out = [UInt32](repeating: 0, count: n)
        var k = 0
        for i in 0..<n where validity[i] {
            out[i] = compact[k]
            k += 1
        }
        return out
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
