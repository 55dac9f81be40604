#if canImport(Glibc)
import Glibc
#endif

/// `round(x, digits)` as DuckDB answers it: the exact value of `x` rounded to `digits`
/// decimal places (negative: to tens, hundreds, …), halves away from zero.
enum Rounding {
    /// An integer rounded to 10^-digits (digits < 0); nil on overflow.
    static func integer(_ v: Int64, digits: Int64) -> Int64? {
        guard digits < 0 else { return v }
        guard digits > -19 else { return 0 }
        var m: Int64 = 1
        for _ in 0..<Int(-digits) { m *= 10 }
        var q = v / m
        let r = v % m
        if r.magnitude * 2 >= m.magnitude { q += v < 0 ? -1 : 1 }
        let (product, overflow) = q.multipliedReportingOverflow(by: m)
        return overflow ? nil : product
    }

    /// A double rounded to `digits` places of its exact decimal value. The product x * 10^d is
    /// off by an ulp at most, so it decides unless it lies within a hair of a half; then the
    /// exact decimal expansion (which a double always has, in at most 1,100 places) decides.
    static func double(_ x: Double, digits: Int64) -> Double {
        guard x.isFinite, x != 0 else { return x }
        if digits >= 0 {
            guard digits <= 340 else { return x }
            let scale = pow(10.0, Double(digits))
            let y = x * scale
            guard y.isFinite else { return x }  // DuckDB: an overflowing scale leaves the value as it is
            if y.magnitude >= 0x1p52 { return x }  // no place left to round at that many digits
            let f = y.magnitude - y.magnitude.rounded(.down)
            if abs(f - 0.5) > 1e-6 { return y.rounded(.toNearestOrAwayFromZero) / scale }
        } else {
            guard digits >= -340 else { return 0 }
            let scale = pow(10.0, Double(-digits))
            let y = x / scale
            guard y.isFinite else { return 0 }
            let f = y.magnitude - y.magnitude.rounded(.down)
            if abs(f - 0.5) > 1e-6 { return (y.rounded(.toNearestOrAwayFromZero) * scale) }
        }
        return exact(x, digits: Int(digits))
    }

    /// The slow path: decimal digits of x exactly, rounded by hand, read back.
    static func exact(_ x: Double, digits: Int) -> Double {
        var buffer = [CChar](repeating: 0, count: 1500)
        let n = withVaList([x.magnitude]) { vsnprintf(&buffer, buffer.count, "%.1100f", $0) }
        guard n > 0 && Int(n) < buffer.count else { return x }
        var text = Array(buffer[0..<Int(n)].map { UInt8(bitPattern: $0) })  // "123.4560…"
        let point = text.firstIndex(of: 46) ?? text.count
        let integerDigits = Array(text[0..<point]), fraction = point < text.count ? Array(text[(point + 1)...]) : []
        // All digits as one number with `fraction.count` places; round at `digits` places.
        var all = integerDigits + fraction
        let keep = integerDigits.count + digits  // digits kept, from the left
        if keep < 0 { return 0 }
        if keep >= all.count { return x }
        let roundUp = all[keep] >= 53  // '5' or more: the half goes away from zero
        for k in keep..<all.count { all[k] = 48 }
        if roundUp {
            var k = keep - 1
            while k >= 0 && all[k] == 57 { all[k] = 48; k -= 1 }
            if k >= 0 { all[k] += 1 } else { all.insert(49, at: 0) }
        }
        let intPart = all[0..<(all.count - fraction.count)]
        let fracPart = all[(all.count - fraction.count)...]
        text = Array(intPart) + [46] + Array(fracPart.prefix(max(0, digits) + 1))
        let value = Double(String(decoding: text, as: UTF8.self)) ?? x
        return x < 0 ? -value : value
    }
}
