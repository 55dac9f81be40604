import StrataCore

/// Calendar arithmetic in UTC (proleptic Gregorian), without Foundation.
enum TimeMath {
    static let msPerDay: Int64 = 86_400_000

    /// Days since 1970-01-01 of a civil date (StrataCore's `Timestamp`, one implementation).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 { Timestamp.daysFromCivil(year, month, day) }

    static func civil(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let c = Timestamp.civilFromDays(days)
        return (c.0, c.1, c.2)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { StrataCore.floorDiv(a, b) }

    /// Parses a timestamp; one written without an offset is wall-clock time in `zone`.
    static func parseTimestamp(_ text: String, zone: TimeZoneRule) -> Int64? {
        guard let (ms, hasOffset) = parseTimestampParts(text) else { return nil }
        return hasOffset ? ms : zone.toUTC(ms)
    }

    /// A date's midnight in `zone`, as an instant.
    static func parseDateMidnight(_ text: String, zone: TimeZoneRule) -> Int64? {
        parseDate(text).map { zone.toUTC($0 * msPerDay) }
    }

    /// Parses `YYYY-MM-DD[( |T)HH:MM[:SS[.fff…]]][Z|±HH[:MM]]` to ms since the epoch (UTC
    /// when no offset is written).
    static func parseTimestamp(_ text: String) -> Int64? { parseTimestampParts(text)?.0 }

    static func parseTimestampParts(_ text: String) -> (Int64, Bool)? {
        let b = Array(text.utf8)
        var i = 0
        func number(_ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let d = b[i + k] &- 0x30
                guard d < 10 else { return nil }
                v = v * 10 + Int64(d)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool { if i < b.count && b[i] == c { i += 1; return true } else { return false } }
        guard let y = number(4), expect(0x2D), let mo = number(2), expect(0x2D), let d = number(2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var ms = days(year: y, month: mo, day: d) * msPerDay
        guard civil(days(year: y, month: mo, day: d)) == (y, mo, d) else { return nil }
        if i == b.count { return (ms, false) }
        guard expect(0x20) || expect(0x54), let h = number(2), expect(0x3A), let mi = number(2), h < 24, mi < 60 else { return nil }
        ms += (h * 60 + mi) * 60_000
        if expect(0x3A) {
            guard let s = number(2), s < 60 else { return nil }
            ms += s * 1000
            if expect(0x2E) {
                var scale: Int64 = 100, frac: Int64 = 0, digits = 0
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                    if scale > 0 { frac += Int64(b[i] - 0x30) * scale; scale /= 10 }
                    i += 1
                    digits += 1
                }
                guard digits > 0 else { return nil }
                ms += frac
            }
        }
        if i == b.count { return (ms, false) }
        if expect(0x5A) && i == b.count { return (ms, true) }
        guard i < b.count, b[i] == 0x2B || b[i] == 0x2D else { return nil }
        let sign: Int64 = b[i] == 0x2D ? -1 : 1
        i += 1
        guard let oh = number(2) else { return nil }
        var om: Int64 = 0
        if expect(0x3A) { guard let m = number(2) else { return nil }; om = m } else if i + 2 <= b.count, let m = number(2) { om = m }
        guard i == b.count, oh < 24, om < 60 else { return nil }
        return (ms - sign * (oh * 60 + om) * 60_000, true)
    }

    static func parseDate(_ text: String) -> Int64? {
        guard text.utf8.count == 10, let ms = parseTimestampParts(text)?.0 else { return nil }
        return ms / msPerDay
    }

    static func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }

    static func formatDate(_ days: Int64) -> String {
        let c = civil(days)
        let y = c.year >= 0 && c.year < 10000 ? String(repeating: "0", count: 4 - String(c.year).count) + String(c.year) : String(c.year)
        return "\(y)-\(two(c.month))-\(two(c.day))"
    }

    /// `YYYY-MM-DD HH:MM:SS[.fff]±HH[:MM]`, as DuckDB prints a TIMESTAMPTZ in its session zone.
    static func formatTimestamp(_ ms: Int64, zone: TimeZoneRule = .utc) -> String {
        let offset = zone.offsetAt(ms)
        let local = ms + offset
        let d = floorDiv(local, msPerDay)
        let rest = local - d * msPerDay
        let h = rest / 3_600_000, mi = rest / 60_000 % 60, s = rest / 1000 % 60, f = rest % 1000
        var out = "\(formatDate(d)) \(two(h)):\(two(mi)):\(two(s))"
        if f != 0 {
            var frac = String(f)
            frac = String(repeating: "0", count: 3 - frac.count) + frac
            while frac.hasSuffix("0") { frac.removeLast() }
            out += "." + frac
        }
        let minutes = abs(offset) / 60_000
        return out + (offset < 0 ? "-" : "+") + two(minutes / 60) + (minutes % 60 == 0 ? "" : ":" + two(minutes % 60))
    }

    /// date_trunc in UTC: the start of the unit containing `ms`.
    static func truncate(_ unit: String, _ ms: Int64) -> Int64? {
        let d = floorDiv(ms, msPerDay)
        switch unit {
        case "millisecond", "milliseconds": return ms
        case "second", "seconds": return floorDiv(ms, 1000) * 1000
        case "minute", "minutes": return floorDiv(ms, 60_000) * 60_000
        case "hour", "hours": return floorDiv(ms, 3_600_000) * 3_600_000
        case "day", "days": return d * msPerDay
        case "week", "weeks": return (d - ((d % 7 + 7 + 3) % 7)) * msPerDay  // ISO weeks start on Monday
        case "month", "months": let c = civil(d); return days(year: c.year, month: c.month, day: 1) * msPerDay
        case "quarter", "quarters": let c = civil(d); return days(year: c.year, month: (c.month - 1) / 3 * 3 + 1, day: 1) * msPerDay
        case "year", "years": let c = civil(d); return days(year: c.year, month: 1, day: 1) * msPerDay
        default: return nil
        }
    }

    /// date_part / extract in UTC.
    static func part(_ unit: String, _ ms: Int64) -> Int64? {
        let d = floorDiv(ms, msPerDay)
        let c = civil(d)
        let rest = ms - d * msPerDay
        switch unit {
        case "year": return c.year
        case "quarter": return (c.month - 1) / 3 + 1
        case "month": return c.month
        case "day": return c.day
        case "hour": return rest / 3_600_000
        case "minute": return rest / 60_000 % 60
        case "second": return rest / 1000 % 60
        case "dow": return (d % 7 + 7 + 4) % 7  // Sunday = 0
        case "isodow": return (d % 7 + 7 + 3) % 7 + 1  // Monday = 1
        case "doy": return d - days(year: c.year, month: 1, day: 1) + 1
        case "epoch": return floorDiv(ms, 1000)
        default: return nil
        }
    }
}

/// The time zone of a query's day and week boundaries (UTC by default): an offset from UTC
/// at each instant, so that daylight-saving changes are followed. The CLI and the server
/// build one from an IANA name; this module only does the arithmetic.
public struct TimeZoneRule: Sendable {
    public let name: String
    /// Offset from UTC, in ms, in effect at a UTC instant.
    public let offsetAt: @Sendable (Int64) -> Int64

    public init(name: String, offsetAt: @escaping @Sendable (Int64) -> Int64) {
        self.name = name
        self.offsetAt = offsetAt
    }

    public static let utc = TimeZoneRule(name: "UTC") { _ in 0 }

    /// Wall-clock ms in the zone.
    func toLocal(_ utc: Int64) -> Int64 { utc + offsetAt(utc) }

    /// The instant of a wall-clock time in the zone (the later one when a change makes it ambiguous).
    func toUTC(_ local: Int64) -> Int64 {
        let guess = local - offsetAt(local)
        return local - offsetAt(guess)
    }
}
