/// Timestamps are milliseconds since the Unix epoch, UTC, in an `Int64`.
/// On the wire they are RFC 3339 text such as `2026-10-23T07:51:50.288Z`.
public enum Timestamp {
    /// Earliest and latest instants accepted from outside: years 0001 to 9999.
    public static let minMs: Int64 = -62_135_596_800_000
    public static let maxMs: Int64 = 253_402_300_799_999

    /// Parses RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. The `T` may be a
    /// space or `t`; the fraction keeps milliseconds and must have 1 to 9 digits.
    /// Returns nil for anything else, including impossible dates (2026-02-30).
    public static func parse<C: Collection>(_ s: C) -> Int64? where C.Element == UInt8 {
        if let r = s.withContiguousStorageIfAvailable({ parse(UnsafeRawBufferPointer($0)) }) { return r }
        return Array(s).withUnsafeBytes { parse($0) }
    }

    /// The parser proper, over raw bytes (no allocation).
    public static func parse(_ b: UnsafeRawBufferPointer) -> Int64? {
        var i = 0
        let n = b.count
        @inline(__always) func digits(_ k: Int) -> Int64? {
            guard i + k <= n else { return nil }
            var v: Int64 = 0
            for _ in 0..<k {
                let c = b[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
                i += 1
            }
            return v
        }
        @inline(__always) func expect(_ c: UInt8) -> Bool {
            guard i < n, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(45), let month = digits(2), expect(45), let day = digits(2)
        else { return nil }
        guard i < n, b[i] == 84 || b[i] == 116 || b[i] == 32 else { return nil }
        i += 1
        guard let hour = digits(2), expect(58), let minute = digits(2), expect(58), let second = digits(2)
        else { return nil }
        var millis: Int64 = 0
        if expect(46) {
            var k = 0
            while i < n, b[i] >= 48 && b[i] <= 57 {
                if k < 3 { millis = millis * 10 + Int64(b[i] - 48) }
                k += 1
                i += 1
            }
            guard k >= 1 && k <= 9 else { return nil }
            for _ in k..<max(k, 3) { millis *= 10 }
        }
        var offsetMinutes: Int64 = 0
        if expect(90) || expect(122) {
        } else if i < n, b[i] == 43 || b[i] == 45 {
            let negative = b[i] == 45
            i += 1
            guard let oh = digits(2), expect(58), let om = digits(2), oh < 24, om < 60 else { return nil }
            offsetMinutes = (oh * 60 + om) * (negative ? -1 : 1)
        } else {
            return nil
        }
        guard i == n else { return nil }
        guard year >= 1, month >= 1, month <= 12, day >= 1, day <= daysInMonth(year, month),
              hour < 24, minute < 60, second < 60
        else { return nil }
        let days = daysFromCivil(year, month, day)
        let ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis - offsetMinutes * 60_000
        guard ms >= minMs && ms <= maxMs else { return nil }
        return ms
    }

    public static func parse(_ s: String) -> Int64? {
        parse(Array(s.utf8))
    }

    /// Formats as `YYYY-MM-DDTHH:MM:SS.mmmZ`, the form `strata generate` writes.
    public static func format(_ ms: Int64) -> String {
        var out = [UInt8]()
        out.reserveCapacity(24)
        append(ms, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the RFC 3339 text of `ms` to a byte buffer (no allocation per value).
    public static func append(_ ms: Int64, to out: inout [UInt8]) {
        let days = floorDiv(ms, 86_400_000)
        let msOfDay = ms - days * 86_400_000
        let (y, m, d) = civilFromDays(days)
        func put(_ v: Int64, _ width: Int) {
            var div: Int64 = 1
            for _ in 1..<width { div *= 10 }
            var v = v
            while div > 0 {
                out.append(UInt8(48 + (v / div) % 10))
                v %= div
                div /= 10
            }
        }
        put(y, 4); out.append(45); put(m, 2); out.append(45); put(d, 2); out.append(84)
        put(msOfDay / 3_600_000, 2); out.append(58)
        put(msOfDay / 60_000 % 60, 2); out.append(58)
        put(msOfDay / 1000 % 60, 2); out.append(46)
        put(msOfDay % 1000, 3); out.append(90)
    }

    @inline(__always)
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { StrataCore.floorDiv(a, b) }

    static func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysInMonth(_ y: Int64, _ m: Int64) -> Int64 {
        switch m {
        case 2: return isLeap(y) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    public static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

/// Division rounding toward negative infinity (days and hours before 1970 stay on the right
/// side of their boundary): floorDiv(-1, 1000) is -1, not 0.
@inlinable @inline(__always)
public func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
