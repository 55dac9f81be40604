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

    /// A unit of date_trunc, date_part and date_diff, named once per query rather than per row.
    enum Unit: Sendable {
        case millisecond, second, minute, hour, day, week, month, quarter, year, dow, isodow, doy, epoch

        /// date_trunc's units (singular or plural).
        init?(truncating name: String) {
            switch name {
            case "millisecond", "milliseconds": self = .millisecond
            case "second", "seconds": self = .second
            case "minute", "minutes": self = .minute
            case "hour", "hours": self = .hour
            case "day", "days": self = .day
            case "week", "weeks": self = .week
            case "month", "months": self = .month
            case "quarter", "quarters": self = .quarter
            case "year", "years": self = .year
            default: return nil
            }
        }

        /// date_part's units.
        init?(part name: String) {
            switch name {
            case "year": self = .year
            case "quarter": self = .quarter
            case "month": self = .month
            case "day": self = .day
            case "hour": self = .hour
            case "minute": self = .minute
            case "second": self = .second
            case "dow": self = .dow
            case "isodow": self = .isodow
            case "doy": self = .doy
            case "epoch": self = .epoch
            default: return nil
            }
        }
    }

    /// The Monday starting the ISO week of a day (days since 1970-01-01, a Thursday).
    @inline(__always)
    static func mondayOnOrBefore(_ day: Int64) -> Int64 {
        day - ((day % 7 + 7 + 3) % 7)
    }

    /// date_trunc in UTC: the start of the unit containing `ms`.
    static func truncate(_ unit: String, _ ms: Int64) -> Int64? {
        Unit(truncating: unit).flatMap { truncate($0, ms) }
    }

    @inline(__always)
    static func truncate(_ unit: Unit, _ ms: Int64) -> Int64? {
        switch unit {
        case .millisecond: return ms
        case .second: return floorDiv(ms, 1000) * 1000
        case .minute: return floorDiv(ms, 60_000) * 60_000
        case .hour: return floorDiv(ms, 3_600_000) * 3_600_000
        case .day: return floorDiv(ms, msPerDay) * msPerDay
        case .week: return mondayOnOrBefore(floorDiv(ms, msPerDay)) * msPerDay
        case .month: let c = civil(floorDiv(ms, msPerDay)); return days(year: c.year, month: c.month, day: 1) * msPerDay
        case .quarter: let c = civil(floorDiv(ms, msPerDay)); return days(year: c.year, month: (c.month - 1) / 3 * 3 + 1, day: 1) * msPerDay
        case .year: let c = civil(floorDiv(ms, msPerDay)); return days(year: c.year, month: 1, day: 1) * msPerDay
        case .dow, .isodow, .doy, .epoch: return nil
        }
    }

    /// date_part / extract in UTC.
    static func part(_ unit: String, _ ms: Int64) -> Int64? {
        Unit(part: unit).flatMap { part($0, ms) }
    }

    static func part(_ unit: Unit, _ ms: Int64) -> Int64? {
        let d = floorDiv(ms, msPerDay)
        let rest = ms - d * msPerDay
        switch unit {
        case .year: return civil(d).year
        case .quarter: return (civil(d).month - 1) / 3 + 1
        case .month: return civil(d).month
        case .day: return civil(d).day
        case .hour: return rest / 3_600_000
        case .minute: return rest / 60_000 % 60
        case .second: return rest / 1000 % 60
        case .dow: return (d % 7 + 7 + 4) % 7  // Sunday = 0
        case .isodow: return (d % 7 + 7 + 3) % 7 + 1  // Monday = 1
        case .doy: return d - days(year: civil(d).year, month: 1, day: 1) + 1
        case .epoch: return floorDiv(ms, 1000)
        case .millisecond, .week: return nil
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

    /// The offset when it never changes (UTC): no call per value.
    let fixedOffset: Int64?

    public init(name: String, offsetAt: @escaping @Sendable (Int64) -> Int64) {
        self.name = name
        self.offsetAt = offsetAt
        fixedOffset = nil
    }

    init(name: String, fixedOffset: Int64) {
        self.name = name
        self.offsetAt = { _ in fixedOffset }
        self.fixedOffset = fixedOffset
    }

    public static let utc = TimeZoneRule(name: "UTC", fixedOffset: 0)

    /// Wall-clock ms in the zone.
    @inline(__always)
    func toLocal(_ utc: Int64) -> Int64 { utc + (fixedOffset ?? offsetAt(utc)) }

    /// The instant of a wall-clock time in the zone (the later one when a change makes it ambiguous).
    @inline(__always)
    func toUTC(_ local: Int64) -> Int64 {
        if let fixedOffset { return local - fixedOffset }
        let guess = local - offsetAt(local)
        return local - offsetAt(guess)
    }
}
