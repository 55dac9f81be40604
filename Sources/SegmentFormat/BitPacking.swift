/// Packed streams: unsigned 64-bit values bit-packed in miniblocks of 128 values.
///
/// Each miniblock is one byte `width` (0...64) followed by `ceil(count * width / 8)`
/// bytes holding the values LSB-first: bit `k` of the miniblock's bit stream is bit
/// `k % 8` of byte `k / 8`, and value `i` occupies bits `i*width ..< (i+1)*width`.
/// The value count is not stored: the enclosing encoding knows it. A width of 0 means
/// every value of the miniblock is 0 and takes no bytes.
public enum BitPacking {
    public static let miniblockSize = 128

    @inline(__always)
    public static func width(_ v: UInt64) -> Int { 64 - v.leadingZeroBitCount }

    @inline(__always)
    static func bytes(count: Int, width: Int) -> Int { (count * width + 7) >> 3 }

    /// Bytes that `encode` would write for these values.
    public static func encodedSize(_ values: UnsafeBufferPointer<UInt64>) -> Int {
        var total = 0
        var start = 0
        while start < values.count {
            let end = min(start + miniblockSize, values.count)
            var bits: UInt64 = 0
            for i in start..<end { bits |= values[i] }
            total += 1 + bytes(count: end - start, width: width(bits))
            start = end
        }
        return total
    }

    public static func encode(_ values: UnsafeBufferPointer<UInt64>, into out: inout ByteWriter) {
        var start = 0
        while start < values.count {
            let end = min(start + miniblockSize, values.count)
            var bits: UInt64 = 0
            for i in start..<end { bits |= values[i] }
            let w = width(bits)
            out.u8(UInt8(w))
            if w > 0 {
                var acc: UInt64 = 0
                var used = 0
                var written = 0
                for i in start..<end {
                    let v = values[i]
                    acc |= v << UInt64(used)
                    used += w
                    if used >= 64 {
                        out.u64(acc)
                        written += 8
                        used -= 64
                        acc = used > 0 ? v >> UInt64(w - used) : 0
                    }
                }
                let total = bytes(count: end - start, width: w)
                var tail = acc
                while written < total {
                    out.u8(UInt8(truncatingIfNeeded: tail))
                    tail >>= 8
                    written += 1
                }
            }
            start = end
        }
    }

    public static func encode(_ values: [UInt64], into out: inout ByteWriter) {
        values.withUnsafeBufferPointer { encode($0, into: &out) }
    }

    public static func encodedSize(_ values: [UInt64]) -> Int {
        values.withUnsafeBufferPointer { encodedSize($0) }
    }

    /// Decodes `out.count` values from `reader`.
    public static func decode(from reader: inout ByteReader, into out: UnsafeMutableBufferPointer<UInt64>) throws {
        // Each value is one unaligned 8-byte load. Miniblocks with 8 readable bytes after
        // them are read in place; the last ones go through a zero-padded copy so that no
        // load leaves the buffer.
        var scratch = [UInt64](repeating: 0, count: miniblockSize + 2)
        try scratch.withUnsafeMutableBytes { (scratchBytes: UnsafeMutableRawBufferPointer) throws in
            var start = 0
            while start < out.count {
                let end = min(start + miniblockSize, out.count)
                let w = Int(try reader.u8("miniblock width"))
                guard w <= 64 else { throw FormatError("miniblock width \(w) is over 64") }
                if w == 0 {
                    for i in start..<end { out[i] = 0 }
                    start = end
                    continue
                }
                let n = bytes(count: end - start, width: w)
                let inPlace = reader.remaining >= n + 8
                let src = try reader.bytes(n, "miniblock values")
                let base: UnsafeRawPointer
                if inPlace { base = src.baseAddress! } else {
                    scratchBytes.copyMemory(from: src)
                    for k in n..<min(n + 16, scratchBytes.count) { scratchBytes[k] = 0 }
                    base = UnsafeRawPointer(scratchBytes.baseAddress!)
                }
                unpack(base, width: w, into: UnsafeMutableBufferPointer(rebasing: out[start..<end]))
                start = end
            }
        }
    }

    /// Unpacks `out.count` values of `w` bits; `base` must have 8 readable bytes past the packed ones.
    @inline(__always)
    static func unpack(_ base: UnsafeRawPointer, width w: Int, into out: UnsafeMutableBufferPointer<UInt64>) {
        let mask: UInt64 = w == 64 ? ~0 : (1 << UInt64(w)) - 1
        var bit = 0
        if w <= 56 {
            // A value never spans more than the 8 bytes loaded at its first byte.
            for i in 0..<out.count {
                out[i] = (base.loadUnaligned(fromByteOffset: bit >> 3, as: UInt64.self) >> UInt64(bit & 7)) & mask
                bit += w
            }
            return
        }
        for i in 0..<out.count {
            let byte = bit >> 3, shift = bit & 7
            var v = base.loadUnaligned(fromByteOffset: byte, as: UInt64.self) >> UInt64(shift)
            if shift + w > 64 {
                v |= UInt64(base.load(fromByteOffset: byte + 8, as: UInt8.self)) << UInt64(64 - shift)
            }
            out[i] = v & mask
            bit += w
        }
    }
}
