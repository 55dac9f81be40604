/// Decimal integers from bytes, once for every reader of text: CSV and NDJSON imports, the
/// change log, counter fields. An optional sign (`+` only when `allowPlus`), then digits; nil
/// for anything else or a value outside Int64 (whose least value is read exactly).
public enum DecimalInteger {
    @inline(__always)
    public static func parse(_ b: UnsafeRawBufferPointer, allowPlus: Bool = true) -> Int64? {
        var i = 0
        var negative = false
        if b.count > 0 && (b[0] == 45 || (allowPlus && b[0] == 43)) { negative = b[0] == 45; i = 1 }
        guard i < b.count else { return nil }
        if b.count - i > 19 {  // leading zeros, or too large: the slow path decides
            for k in i..<b.count where b[k] < 48 || b[k] > 57 { return nil }
            return Int64(String(decoding: b, as: UTF8.self))
        }
        var v: Int64 = 0
        while i < b.count {
            let c = b[i]
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c - 48))
            if o1 || o2 {
                // Only Int64.min's magnitude overflows on the positive side.
                return negative && String(decoding: b, as: UTF8.self) == "-9223372036854775808" ? Int64.min : nil
            }
            v = a
            i += 1
        }
        return negative ? -v : v
    }

    public static func parse<C: Collection<UInt8>>(_ bytes: C, allowPlus: Bool = true) -> Int64? {
        if let r = bytes.withContiguousStorageIfAvailable({ parse(UnsafeRawBufferPointer($0), allowPlus: allowPlus) }) { return r }
        return Array(bytes).withUnsafeBytes { parse($0, allowPlus: allowPlus) }
    }

    /// Appends the decimal digits of `n` (a leading '-' when negative), without a String.
    @inlinable
    public static func append(_ n: Int64, to out: inout [UInt8]) {
        var m = n.magnitude
        if n < 0 { out.append(UInt8(ascii: "-")) }
        var buf: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: Int64's 20 digits fit
        withUnsafeMutableBytes(of: &buf) { raw in
            var i = raw.count
            repeat {
                i -= 1
                raw[i] = UInt8(ascii: "0") + UInt8(m % 10)
                m /= 10
            } while m != 0
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[i...]))
        }
    }

    /// The decimal digits of `n`, in one allocation.
    @inlinable
    public static func digits(_ n: Int64) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(20)
        append(n, to: &out)
        return out
    }
}
