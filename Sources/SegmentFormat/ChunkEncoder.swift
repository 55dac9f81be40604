import StrataCore

/// Turns one column of one row group into a block: validity bitmap and values in the
/// smallest encoding, then LZ4 where it saves at least an eighth.
public enum ChunkEncoder {
    /// An encoded block and its footer entry (the offset is filled in by the writer).
    public struct Block {
        public var stored: [UInt8]
        public var meta: ChunkMeta
    }

    /// An earlier integer column of the same row group that REF_DELTA may refer to.
    public struct Reference {
        public let column: Int
        public let type: LogicalType
        public let vector: ColumnVector
    }

    public static func encode(_ vector: ColumnVector, type: LogicalType,
                              references: [Reference] = []) -> Block {
        let n = vector.count
        let nulls = vector.nullCount
        var w = ByteWriter(capacity: 64)
        if nulls > 0 && nulls < n { w.raw(vector.validity!.bytes) }
        var encoding = type.isInteger ? Encoding.plain : Encoding.plainString
        var refColumn: Int? = nil
        var minV: StatValue? = nil
        var maxV: StatValue? = nil
        if nulls < n {
            if type.isInteger {
                let values = compactIntegers(vector)
                minV = .integer(values.min()!)
                maxV = .integer(values.max()!)
                encoding = IntegerCodec.choose(values)
                var bestSize = IntegerCodec.size(encoding, values)
                var bestRef: [Int64]? = nil
                for r in references where r.type == type && covers(r.vector, vector) {
                    let refValues = gatherIntegers(r.vector, at: vector)
                    let size = IntegerCodec.size(.referenceDelta, values, ref: refValues)
                    // REF_DELTA makes decoding depend on another column: take it only when it pays.
                    if size < bestSize - bestSize / 10 {
                        bestSize = size
                        bestRef = refValues
                        refColumn = r.column
                        encoding = .referenceDelta
                    }
                }
                IntegerCodec.encode(values, as: encoding, ref: bestRef, into: &w)
            } else {
                let strings = compactStrings(vector)
                let prefix = w.bytes
                var plain = ByteWriter(capacity: strings.bytes.count + strings.count + 64)
                plain.raw(prefix)
                StringCodec.encodePlain(strings, into: &plain)
                var best = (encoding: Encoding.plainString, bytes: plain.bytes, stored: compressed(plain.bytes))
                if mostlyRepeated(strings),
                   let d = StringCodec.dictionary(of: strings, limit: min(StringCodec.maxDictionarySize, strings.count / 2 + 1)) {
                    var dw = ByteWriter()
                    dw.raw(prefix)
                    StringCodec.encodeDictionary(d.dictionary, codes: d.codes, into: &dw)
                    let stored = compressed(dw.bytes)
                    if (stored ?? dw.bytes).count <= (best.stored ?? best.bytes).count {
                        best = (.dictionary, dw.bytes, stored)
                    }
                    minV = statBytes(d.dictionary.bytes(at: 0))
                    maxV = statBytes(d.dictionary.bytes(at: d.dictionary.count - 1))
                } else {
                    (minV, maxV) = stringRange(strings)
                }
                if minV == nil || maxV == nil { minV = nil; maxV = nil }
                encoding = best.encoding
                return finish(raw: best.bytes, stored: best.stored, encoding: encoding, ref: nil, nulls: nulls, min: minV, max: maxV)
            }
        }
        return finish(raw: w.bytes, stored: compressed(w.bytes), encoding: encoding, ref: refColumn,
                      nulls: nulls, min: minV, max: maxV)
    }

    static func finish(raw: [UInt8], stored: [UInt8]?, encoding: Encoding, ref: Int?, nulls: Int,
                       min: StatValue?, max: StatValue?) -> Block {
        let bytes = stored ?? raw
        let meta = ChunkMeta(offset: 0, storedLength: UInt32(bytes.count), rawLength: UInt32(raw.count),
                             crc32c: CRC32C.checksum(bytes), compression: stored == nil ? .none : .lz4Block,
                             encoding: encoding, referenceColumn: ref, nullCount: nulls, min: min, max: max)
        return Block(stored: bytes, meta: meta)
    }

    /// LZ4 when it saves at least an eighth of the block; nil otherwise.
    static func compressed(_ raw: [UInt8]) -> [UInt8]? {
        guard raw.count >= 64 else { return nil }
        return LZ4Block.compress(raw, maxOutput: raw.count - raw.count / 8)
    }

    /// Whether a sample of the values repeats enough for a dictionary to be worth trying
    /// (a quick no for free text, which would otherwise hash tens of thousands of strings).
    static func mostlyRepeated(_ s: StringColumn) -> Bool {
        let sample = min(s.count, 1024)
        var seen = ByteStringTable(capacity: sample)
        for i in 0..<sample {
            _ = s.withBytes(at: i * s.count / max(sample, 1)) { seen.code(of: $0) }
            if seen.count > sample / 2 + 1 { return false }
        }
        return true
    }

    static func statBytes(_ b: ArraySlice<UInt8>) -> StatValue? {
        b.count <= ChunkMeta.maxStatBytes ? .bytes(Array(b)) : nil
    }

    static func stringRange(_ s: StringColumn) -> (StatValue?, StatValue?) {
        guard s.count > 0 else { return (nil, nil) }
        var lo = s.bytes(at: 0), hi = lo
        for i in 1..<s.count {
            let v = s.bytes(at: i)
            if v.lexicographicallyPrecedes(lo) { lo = v }
            if hi.lexicographicallyPrecedes(v) { hi = v }
        }
        return (statBytes(lo), statBytes(hi))
    }

    /// True when `ref` has a value in every row where `v` has one.
    static func covers(_ ref: ColumnVector, _ v: ColumnVector) -> Bool {
        guard let rv = ref.validity else { return true }
        guard let vv = v.validity else { return rv.setCount == rv.count }
        for (a, b) in zip(rv.bytes, vv.bytes) where b & ~a != 0 { return false }
        return true
    }

    static func compactIntegers(_ v: ColumnVector) -> [Int64] {
        guard case .integers(let all) = v.values else { preconditionFailure("integer column holds strings") }
        guard let validity = v.validity else { return all }
        var out = [Int64]()
        out.reserveCapacity(validity.setCount)
        for i in 0..<all.count where validity[i] { out.append(all[i]) }
        return out
    }

    /// `ref`'s values at the rows where `v` is not null.
    static func gatherIntegers(_ ref: ColumnVector, at v: ColumnVector) -> [Int64] {
        guard case .integers(let all) = ref.values else { preconditionFailure("reference column holds strings") }
        guard let validity = v.validity else { return all }
        var out = [Int64]()
        out.reserveCapacity(validity.setCount)
        for i in 0..<all.count where validity[i] { out.append(all[i]) }
        return out
    }

    static func compactStrings(_ v: ColumnVector) -> StringColumn {
        switch v.values {
        case .strings(let s):
            guard let validity = v.validity else { return s }
            var out = StringColumn()
            for i in 0..<s.count where validity[i] { out.append(s.bytes(at: i)) }
            return out
        case .dictionary(let codes, let dict):
            var out = StringColumn()
            for i in 0..<codes.count where !v.isNull(i) { out.append(dict.bytes(at: Int(codes[i]))) }
            return out
        case .integers:
            preconditionFailure("string column holds integers")
        }
    }
}
