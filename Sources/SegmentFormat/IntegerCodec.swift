/// Encodes and decodes the non-null values of an integer (or timestamp) column chunk.
/// All arithmetic wraps in 64 bits, so every encoding round-trips every `Int64`.
public enum IntegerCodec {
    @inline(__always) static func u(_ v: Int64) -> UInt64 { UInt64(bitPattern: v) }
    @inline(__always) static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    @inline(__always) static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }

    // MARK: candidates

    /// Frame of reference: the least value, and each value minus it as an unsigned number.
    static func forValues(_ v: [Int64]) -> (base: Int64, packed: [UInt64]) {
        let base = v.min() ?? 0
        return (base, v.map { u($0) &- u(base) })
    }

    static func deltas(_ v: [Int64]) -> (first: Int64, minDelta: Int64, packed: [UInt64]) {
        guard v.count >= 2 else { return (v.first ?? 0, 0, []) }
        var d = [Int64](repeating: 0, count: v.count - 1)
        for i in 1..<v.count { d[i - 1] = v[i] &- v[i - 1] }
        let m = d.min()!
        return (v[0], m, d.map { u($0) &- u(m) })
    }

    static func deltaOfDeltas(_ v: [Int64]) -> (first: Int64, firstDelta: Int64, packed: [UInt64]) {
        guard v.count >= 2 else { return (v.first ?? 0, 0, []) }
        let firstDelta = v[1] &- v[0]
        var out = [UInt64]()
        out.reserveCapacity(max(0, v.count - 2))
        var prev = firstDelta
        if v.count > 2 {
            for i in 2..<v.count {
                let d = v[i] &- v[i - 1]
                out.append(zigzag(d &- prev))
                prev = d
            }
        }
        return (v[0], firstDelta, out)
    }

    static func runs(_ v: [Int64]) -> (values: [Int64], lengths: [UInt64]) {
        var values = [Int64]()
        var lengths = [UInt64]()
        var i = 0
        while i < v.count {
            var j = i + 1
            while j < v.count && v[j] == v[i] { j += 1 }
            values.append(v[i])
            lengths.append(UInt64(j - i - 1))
            i = j
        }
        return (values, lengths)
    }

    static func referenceDiffs(_ v: [Int64], _ ref: [Int64]) -> (base: Int64, packed: [UInt64]) {
        precondition(v.count == ref.count)
        var d = [Int64](repeating: 0, count: v.count)
        for i in 0..<v.count { d[i] = v[i] &- ref[i] }
        return forValues(d)
    }

    /// Encoded size of each candidate, to choose the smallest.
    public static func size(_ encoding: Encoding, _ v: [Int64], ref: [Int64]? = nil) -> Int {
        switch encoding {
        case .plain: return 8 * v.count
        case .frameOfReference: return 8 + BitPacking.encodedSize(forValues(v).packed)
        case .delta: return 16 + BitPacking.encodedSize(deltas(v).packed)
        case .deltaOfDelta: return 16 + BitPacking.encodedSize(deltaOfDeltas(v).packed)
        case .runLength:
            let r = runs(v)
            return 4 + 8 + BitPacking.encodedSize(forValues(r.values).packed) + BitPacking.encodedSize(r.lengths)
        case .referenceDelta: return 8 + BitPacking.encodedSize(referenceDiffs(v, ref!).packed)
        case .plainString, .dictionary: preconditionFailure("not an integer encoding")
        }
    }

    /// The smallest self-contained encoding for these values (REF_DELTA is chosen by
    /// the chunk encoder, which knows the other columns).
    public static func choose(_ v: [Int64]) -> Encoding {
        let sizes = exactSizes(v)
        var best = Encoding.plain
        var bestSize = 8 * v.count
        for (e, s) in [(Encoding.frameOfReference, sizes.frameOfReference), (.delta, sizes.delta),
                       (.deltaOfDelta, sizes.deltaOfDelta)] where s < bestSize {
            best = e
            bestSize = s
        }
        if sizes.runs <= v.count / 4 {
            let s = size(.runLength, v)
            if s < bestSize { best = .runLength }
        }
        return best
    }

    /// Exact sizes of FOR, DELTA and DELTA_OF_DELTA, and the number of runs, in two
    /// passes over the values without materializing any transformed stream.
    static func exactSizes(_ v: [Int64]) -> (frameOfReference: Int, delta: Int, deltaOfDelta: Int, runs: Int) {
        let n = v.count
        guard n > 0 else { return (8, 16, 16, 0) }
        return v.withUnsafeBufferPointer { p in
            var lo = p[0], minDelta = Int64.max, runs = 1
            for i in 1..<max(n, 1) {
                lo = Swift.min(lo, p[i])
                minDelta = Swift.min(minDelta, p[i] &- p[i - 1])
                if p[i] != p[i - 1] { runs += 1 }
            }
            let block = BitPacking.miniblockSize
            @inline(__always) func bytes(_ count: Int, _ bits: UInt64) -> Int { 1 + ((count * BitPacking.width(bits) + 7) >> 3) }
            var forSize = 8, deltaSize = 16, dodSize = 16
            var forBits: UInt64 = 0, deltaBits: UInt64 = 0, dodBits: UInt64 = 0
            let base = u(lo), md = u(minDelta)
            for i in 0..<n {
                forBits |= u(p[i]) &- base
                if (i + 1) % block == 0 || i == n - 1 {
                    forSize += bytes(i % block + 1, forBits)
                    forBits = 0
                }
                if i >= 1 {
                    let d = p[i] &- p[i - 1]
                    deltaBits |= u(d) &- md
                    let k = i - 1  // index in the delta stream
                    if (k + 1) % block == 0 || i == n - 1 {
                        deltaSize += bytes(k % block + 1, deltaBits)
                        deltaBits = 0
                    }
                    if i >= 2 {
                        dodBits |= zigzag(d &- (p[i - 1] &- p[i - 2]))
                        let j = i - 2
                        if (j + 1) % block == 0 || i == n - 1 {
                            dodSize += bytes(j % block + 1, dodBits)
                            dodBits = 0
                        }
                    }
                }
            }
            return (forSize, deltaSize, dodSize, runs)
        }
    }

    static func runCountExceeds(_ v: [Int64], _ limit: Int) -> Bool {
        var n = v.isEmpty ? 0 : 1
        for i in v.indices.dropFirst() where v[i] != v[i - 1] {
            n += 1
            if n > limit { return true }
        }
        return false
    }

    // MARK: encode

    public static func encode(_ v: [Int64], as encoding: Encoding, ref: [Int64]? = nil, into out: inout ByteWriter) {
        switch encoding {
        case .plain:
            for x in v { out.i64(x) }
        case .frameOfReference:
            let f = forValues(v)
            out.i64(f.base)
            BitPacking.encode(f.packed, into: &out)
        case .delta:
            let d = deltas(v)
            out.i64(d.first)
            out.i64(d.minDelta)
            BitPacking.encode(d.packed, into: &out)
        case .deltaOfDelta:
            let d = deltaOfDeltas(v)
            out.i64(d.first)
            out.i64(d.firstDelta)
            BitPacking.encode(d.packed, into: &out)
        case .runLength:
            let r = runs(v)
            let f = forValues(r.values)
            out.u32(UInt32(r.values.count))
            out.i64(f.base)
            BitPacking.encode(f.packed, into: &out)
            BitPacking.encode(r.lengths, into: &out)
        case .referenceDelta:
            let f = referenceDiffs(v, ref!)
            out.i64(f.base)
            BitPacking.encode(f.packed, into: &out)
        case .plainString, .dictionary:
            preconditionFailure("not an integer encoding")
        }
    }

    // MARK: decode

    /// Decodes `count` values. `ref` holds, for REF_DELTA, the reference column's values
    /// at the same (non-null) rows.
    public static func decode(_ encoding: Encoding, count: Int, ref: [Int64]? = nil,
                              from r: inout ByteReader) throws -> [Int64] {
        // Every encoding writes all `count` values (or throws, and the array is dropped).
        try [Int64](unsafeUninitializedCapacity: count) { o, initialized in
            initialized = count
            try decode(encoding, into: o, ref: ref, from: &r)
        }
    }

    static func decode(_ encoding: Encoding, into o: UnsafeMutableBufferPointer<Int64>, ref: [Int64]?,
                       from r: inout ByteReader) throws {
        let count = o.count
        // Signed and unsigned integers of one size may alias (Swift's memory model).
        let asUnsigned = UnsafeMutableBufferPointer<UInt64>(
            start: UnsafeMutableRawPointer(o.baseAddress)?.assumingMemoryBound(to: UInt64.self), count: count)
        switch encoding {
        case .plain:
            let b = try r.bytes(8 * count, "plain values")
            for i in 0..<count { o[i] = Int64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
        case .frameOfReference:
            let base = u(try r.i64("FOR base"))
            try BitPacking.decode(from: &r, into: asUnsigned)
            for i in 0..<count { asUnsigned[i] = asUnsigned[i] &+ base }
        case .delta:
            let first = u(try r.i64("DELTA first value"))
            let minDelta = u(try r.i64("DELTA minimum delta"))
            guard count > 0 else { return }
            if count > 1 {
                try BitPacking.decode(from: &r, into: UnsafeMutableBufferPointer(rebasing: asUnsigned[1..<count]))
            }
            asUnsigned[0] = first
            var prev = first
            for i in 1..<count {
                prev = prev &+ asUnsigned[i] &+ minDelta
                asUnsigned[i] = prev
            }
        case .deltaOfDelta:
            let first = try r.i64("DELTA_OF_DELTA first value")
            var delta = try r.i64("DELTA_OF_DELTA first delta")
            guard count > 0 else { return }
            if count > 2 {
                try BitPacking.decode(from: &r, into: UnsafeMutableBufferPointer(rebasing: asUnsigned[2..<count]))
            }
            o[0] = first
            if count > 1 { o[1] = first &+ delta }
            if count > 2 {
                for i in 2..<count {
                    delta = delta &+ unzigzag(asUnsigned[i])
                    o[i] = o[i - 1] &+ delta
                }
            }
        case .runLength:
            let runCount = try r.count("RLE run count", limit: count)
            let base = u(try r.i64("RLE base"))
            guard (count == 0) == (runCount == 0) else { throw FormatError("RLE has \(runCount) runs for \(count) values") }
            var values = [UInt64](repeating: 0, count: runCount)
            var lengths = [UInt64](repeating: 0, count: runCount)
            try values.withUnsafeMutableBufferPointer { (b: inout UnsafeMutableBufferPointer<UInt64>) throws in
                try BitPacking.decode(from: &r, into: b)
            }
            try lengths.withUnsafeMutableBufferPointer { (b: inout UnsafeMutableBufferPointer<UInt64>) throws in
                try BitPacking.decode(from: &r, into: b)
            }
            var pos = 0
            for k in 0..<runCount {
                let n = lengths[k]
                guard n < UInt64(count - pos) else { throw FormatError("RLE runs cover more than \(count) values") }
                let v = values[k] &+ base
                for i in pos...(pos + Int(n)) { asUnsigned[i] = v }
                pos += Int(n) + 1
            }
            guard pos == count else { throw FormatError("RLE runs cover \(pos) of \(count) values") }
        case .referenceDelta:
            guard let ref, ref.count == count else { throw FormatError("REF_DELTA without its reference values") }
            let base = u(try r.i64("REF_DELTA base"))
            try BitPacking.decode(from: &r, into: asUnsigned)
            for i in 0..<count { asUnsigned[i] = asUnsigned[i] &+ base &+ u(ref[i]) }
        case .plainString, .dictionary:
            throw FormatError("string encoding \(encoding) on an integer column")
        }
    }
}
