import StrataCore

/// Encodes and decodes the non-null values of a string column chunk.
public enum StringCodec {
    /// Most distinct values a dictionary may hold in one chunk.
    public static let maxDictionarySize = 1 << 16

    /// PLAIN_STRING: a packed stream of the byte lengths, then all bytes back to back.
    public static func encodePlain(_ s: StringColumn, into out: inout ByteWriter) {
        var lengths = [UInt64](repeating: 0, count: s.count)
        for i in 0..<s.count { lengths[i] = UInt64(s.offsets[i + 1] - s.offsets[i]) }
        BitPacking.encode(lengths, into: &out)
        out.raw(s.bytes)
    }

    public static func decodePlain(count: Int, from r: inout ByteReader) throws -> StringColumn {
        var lengths = [UInt64](repeating: 0, count: count)
        try lengths.withUnsafeMutableBufferPointer { (b: inout UnsafeMutableBufferPointer<UInt64>) throws in
            try BitPacking.decode(from: &r, into: b)
        }
        var offsets = [UInt32](repeating: 0, count: count + 1)
        var total: UInt64 = 0
        for i in 0..<count {
            total &+= lengths[i]
            guard total <= UInt64(r.remaining) else { throw FormatError("string lengths exceed the block") }
            offsets[i + 1] = UInt32(total)
        }
        let bytes = try r.bytes(Int(total), "string bytes")
        return StringColumn(offsets: offsets, bytes: Array(bytes))
    }

    /// A sorted dictionary of the distinct values and each value's code, or nil when
    /// the values have more distinct entries than `limit`.
    public static func dictionary(of s: StringColumn, limit: Int) -> (dictionary: StringColumn, codes: [UInt32])? {
        var table = ByteStringTable()
        var firstCodes = [UInt32](repeating: 0, count: s.count)
        let ok = s.bytes.withUnsafeBytes { all -> Bool in
            for i in 0..<s.count {
                let v = UnsafeRawBufferPointer(rebasing: all[Int(s.offsets[i])..<Int(s.offsets[i + 1])])
                firstCodes[i] = table.code(of: v)!
                if table.count > limit { return false }
            }
            return true
        }
        guard ok else { return nil }
        // Sort the dictionary by bytes so that code order is value order.
        let distinct = table.strings
        let order = (0..<distinct.count).sorted { distinct.bytes(at: $0).lexicographicallyPrecedes(distinct.bytes(at: $1)) }
        var remap = [UInt32](repeating: 0, count: distinct.count)
        var dict = StringColumn()
        for (newCode, old) in order.enumerated() {
            remap[old] = UInt32(newCode)
            dict.append(distinct.bytes(at: old))
        }
        for i in firstCodes.indices { firstCodes[i] = remap[Int(firstCodes[i])] }
        return (dict, firstCodes)
    }

    /// DICTIONARY: u32 entry count, the entries as PLAIN_STRING (sorted, distinct), one
    /// byte naming the codes' integer encoding (FOR or RLE), then the codes in it.
    public static func encodeDictionary(_ dict: StringColumn, codes: [UInt32], into out: inout ByteWriter) {
        out.u32(UInt32(dict.count))
        encodePlain(dict, into: &out)
        let v = codes.map { Int64($0) }
        let e: Encoding = IntegerCodec.runCountExceeds(v, v.count / 4) ? .frameOfReference
            : (IntegerCodec.size(.runLength, v) < IntegerCodec.size(.frameOfReference, v) ? .runLength : .frameOfReference)
        out.u8(e.rawValue)
        IntegerCodec.encode(v, as: e, into: &out)
    }

    public static func dictionarySize(_ dict: StringColumn, codes: [UInt32]) -> Int {
        var out = ByteWriter()
        encodeDictionary(dict, codes: codes, into: &out)
        return out.count
    }

    public static func decodeDictionary(count: Int, from r: inout ByteReader) throws -> (dictionary: StringColumn, codes: [UInt32]) {
        let n = try r.count("dictionary size", limit: maxDictionarySize)
        guard n > 0 || count == 0 else { throw FormatError("empty dictionary for \(count) values") }
        let dict = try decodePlain(count: n, from: &r)
        let raw = try r.u8("dictionary codes encoding")
        guard let e = Encoding(rawValue: raw), e == .frameOfReference || e == .runLength else {
            throw FormatError("dictionary codes encoding \(raw) is not FOR or RLE")
        }
        let v = try IntegerCodec.decode(e, count: count, from: &r)
        var codes = [UInt32](repeating: 0, count: count)
        for i in 0..<count {
            guard v[i] >= 0 && v[i] < Int64(n) else { throw FormatError("dictionary code \(v[i]) out of range 0..<\(n)") }
            codes[i] = UInt32(v[i])
        }
        return (dict, codes)
    }
}
