/// An INTERVAL value: months, days and microseconds kept apart, as DuckDB and PostgreSQL
/// keep them, because a month and a day have no fixed length (a day across a daylight-saving
/// change is 23 or 25 hours). Comparison and grouping count a month as 30 days and a day as
/// 24 hours, as DuckDB does, so `INTERVAL '1 month' = INTERVAL '30 days'`.
public struct Interval: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var months: Int32
    public var days: Int32
    public var micros: Int64

    public static let microsPerDay: Int64 = 86_400_000_000
    public static let daysPerMonth: Int64 = 30
    public static let zero = Interval(months: 0, days: 0, micros: 0)

    public init(months: Int32, days: Int32, micros: Int64) {
        self.months = months
        self.days = days
        self.micros = micros
    }

    /// Checked construction from wide parts: nil when a part leaves its range.
    init?(wide months: Int64, days: Int64, micros: Int64) {
        guard let m = Int32(exactly: months), let d = Int32(exactly: days) else { return nil }
        self.init(months: m, days: d, micros: micros)
    }

    /// The length in microseconds with a month as 30 days: the key of ordering and equality.
    var totalMicros: Int128 {
        (Int128(months) * Int128(Self.daysPerMonth) + Int128(days)) * Int128(Self.microsPerDay) + Int128(micros)
    }

    public static func == (a: Interval, b: Interval) -> Bool { a.totalMicros == b.totalMicros }
    public static func < (a: Interval, b: Interval) -> Bool { a.totalMicros < b.totalMicros }
    public func hash(into h: inout Hasher) { h.combine(totalMicros) }

    /// Seconds, with a month as 30 days (DuckDB's `epoch(interval)`).
    public var epochSeconds: Double { Double(totalMicros) / 1_000_000 }

    // MARK: arithmetic (nil on overflow)

    static func + (a: Interval, b: Interval) -> Interval? {
        let (us, o) = a.micros.addingReportingOverflow(b.micros)
        return o ? nil : Interval(wide: Int64(a.months) + Int64(b.months), days: Int64(a.days) + Int64(b.days), micros: us)
    }

    var negated: Interval? {
        guard micros != Int64.min else { return nil }
        return Interval(wide: -Int64(months), days: -Int64(days), micros: -micros)
    }

    func times(_ n: Int64) -> Interval? {
        let (us, o) = micros.multipliedReportingOverflow(by: n)
        let (m, o1) = Int64(months).multipliedReportingOverflow(by: n), (d, o2) = Int64(days).multipliedReportingOverflow(by: n)
        return o || o1 || o2 ? nil : Interval(wide: m, days: d, micros: us)
    }

    /// Multiplied by a fraction: the fraction of a month spills into days (30 a month), that
    /// of a day into microseconds, as DuckDB does (`INTERVAL '1 month' * 1.5` is 1 month 15 days).
    func times(_ f: Double) -> Interval? {
        let m = Double(months) * f, mWhole = m.rounded(.towardZero)
        let d = Double(days) * f + (m - mWhole) * Double(Self.daysPerMonth), dWhole = d.rounded(.towardZero)
        let us = (Double(micros) * f + (d - dWhole) * Double(Self.microsPerDay)).rounded()
        guard mWhole.isFinite, dWhole.isFinite, us.isFinite, abs(us) < 9.2e18, abs(mWhole) < 2.1e9, abs(dWhole) < 2.1e9 else { return nil }
        return Interval(wide: Int64(mWhole), days: Int64(dWhole), micros: Int64(us))
    }

    /// The mean of a sum over `count` values, computed as DuckDB 2.0's avg(INTERVAL) does
    /// (PostgreSQL's shifting of remainders; the microsecond remainder is kept, not divided,
    /// so the result can be a few microseconds above the exact mean).
    static func average(months: Int64, days: Int64, micros: Int64, count: Int64) -> Interval? {
        precondition(count > 0)
        let monthsRemainder = (months % count) * daysPerMonth
        let outDays = days / count + monthsRemainder / count
        let daysRemainder = (days % count + monthsRemainder % count)
        let (dr, o) = daysRemainder.multipliedReportingOverflow(by: microsPerDay)
        guard !o else { return nil }
        let outMicros = micros / count + micros % count + dr / count
        return Interval(wide: months / count, days: outDays, micros: outMicros)
    }

    // MARK: text

    /// The form DuckDB prints: `1 year 2 months 3 days 04:05:06.5`, `-01:30:00`, `00:00:00`.
    public var description: String {
        var parts = [String]()
        func unit(_ n: Int64, _ name: String) { parts.append("\(n) \(name)\(n == 1 || n == -1 ? "" : "s")") }
        let years = Int64(months) / 12, restMonths = Int64(months) % 12
        if years != 0 { unit(years, "year") }
        if restMonths != 0 { unit(restMonths, "month") }
        if days != 0 { unit(Int64(days), "day") }
        if micros != 0 || parts.isEmpty {
            let negative = micros < 0
            let us = micros.magnitude
            let h = us / 3_600_000_000, m = us / 60_000_000 % 60, s = us / 1_000_000 % 60, frac = us % 1_000_000
            var text = (negative ? "-" : "") + TimeMath.two(Int64(h)) + ":" + TimeMath.two(Int64(m)) + ":" + TimeMath.two(Int64(s))
            if frac != 0 {
                var digits = String(frac)
                digits = String(repeating: "0", count: 6 - digits.count) + digits
                while digits.last == "0" { digits.removeLast() }
                text += "." + digits
            }
            parts.append(text)
        }
        return parts.joined(separator: " ")
    }

    /// Units of interval text and of `INTERVAL n unit`: (months, days, microseconds) per one.
    static func unit(_ word: String) -> (months: Int64, days: Int64, micros: Int64)? {
        switch word.lowercased() {
        case "microsecond", "microseconds", "us", "usec", "usecs": return (0, 0, 1)
        case "millisecond", "milliseconds", "ms", "msec", "msecs": return (0, 0, 1000)
        case "second", "seconds", "s", "sec", "secs": return (0, 0, 1_000_000)
        case "minute", "minutes", "m", "min", "mins": return (0, 0, 60_000_000)
        case "hour", "hours", "h", "hr", "hrs": return (0, 0, 3_600_000_000)
        case "day", "days", "d": return (0, 1, 0)
        case "week", "weeks", "w": return (0, 7, 0)
        case "month", "months", "mon", "mons": return (1, 0, 0)
        case "quarter", "quarters": return (3, 0, 0)
        case "year", "years", "y", "yr", "yrs": return (12, 0, 0)
        case "decade", "decades": return (120, 0, 0)
        case "century", "centuries": return (1200, 0, 0)
        case "millennium", "millennia", "millenniums": return (12000, 0, 0)
        default: return nil
        }
    }

    /// Parses interval text: pairs of `number unit` (`2 days 3 hours`, `1.5 hours`, `-90 minutes`)
    /// and at most one `[-]HH:MM[:SS[.ffffff]]`. Nil when the text is not an interval.
    public static func parse(_ text: String) -> Interval? {
        guard text.utf8.count <= 256 else { return nil }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard !words.isEmpty else { return nil }
        var months = 0.0, days = 0.0, micros = 0.0
        var i = 0, sawTime = false
        while i < words.count {
            let w = words[i]
            if w.contains(":") {
                guard !sawTime, let us = parseClock(w) else { return nil }
                sawTime = true
                micros += Double(us)
                i += 1
                continue
            }
            // `5 hours`, or `5hours` / `5h` written together.
            var number = w, unitWord: String
            if let split = w.firstIndex(where: { $0.isLetter }), split != w.startIndex {
                number = String(w[..<split])
                unitWord = String(w[split...])
                i += 1
            } else {
                guard i + 1 < words.count else { return nil }
                unitWord = words[i + 1]
                i += 2
            }
            guard let n = Double(number), n.isFinite, let u = unit(unitWord) else { return nil }
            months += n * Double(u.months)
            days += n * Double(u.days)
            micros += n * Double(u.micros)
        }
        // Fractions spill down: a month's into days (30), a day's into microseconds.
        let m = months.rounded(.towardZero)
        let d0 = days + (months - m) * Double(daysPerMonth), d = d0.rounded(.towardZero)
        let us = (micros + (d0 - d) * Double(microsPerDay)).rounded()
        guard abs(m) < 2.1e9, abs(d) < 2.1e9, abs(us) < 9.2e18 else { return nil }
        return Interval(wide: Int64(m), days: Int64(d), micros: Int64(us))
    }

    /// `[-]H+:MM[:SS[.ffffff]]` in microseconds.
    static func parseClock(_ w: String) -> Int64? {
        var s = Substring(w), negative = false
        if s.first == "-" { negative = true; s.removeFirst() } else if s.first == "+" { s.removeFirst() }
        let fields = s.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 2 || fields.count == 3, let h = Int64(fields[0]), let m = Int64(fields[1]), h >= 0, h < 2_562_047_788, (0..<60).contains(m) else { return nil }
        var us = h * 3_600_000_000 + m * 60_000_000
        if fields.count == 3 {
            guard let sec = Double(fields[2]), sec >= 0, sec < 60 else { return nil }
            us += Int64((sec * 1_000_000).rounded())
        }
        return negative ? -us : us
    }
}

extension TimeMath {
    /// `ts + interval` in `zone`: months and days move the wall-clock date (a month keeps the
    /// day, clamped to the month's last), microseconds move the instant, as DuckDB's ICU
    /// arithmetic for TIMESTAMP WITH TIME ZONE does. Nil past year ±292,000.
    static func add(_ iv: Interval, to ms: Int64, zone: TimeZoneRule) -> Int64? {
        var t = ms
        if iv.months != 0 || iv.days != 0 {
            let local = zone.toLocal(t)
            let day = floorDiv(local, msPerDay), timeOfDay = local - day * msPerDay
            var c = civil(day)
            if iv.months != 0 {
                let total = c.year * 12 + (c.month - 1) + Int64(iv.months)
                c.year = floorDiv(total, 12)
                c.month = total - c.year * 12 + 1
                c.day = min(c.day, monthLength(year: c.year, month: c.month))
            }
            guard abs(c.year) < 290_000 else { return nil }
            let newDay = days(year: c.year, month: c.month, day: c.day) + Int64(iv.days)
            t = zone.toUTC(newDay * msPerDay + timeOfDay)
        }
        let (r, o) = t.addingReportingOverflow(floorDiv(iv.micros, 1000))
        guard !o, abs(r) < 9_000_000_000_000_000 else { return nil }
        return r
    }

    static func monthLength(year: Int64, month: Int64) -> Int64 {
        let next = month == 12 ? days(year: year + 1, month: 1, day: 1) : days(year: year, month: month + 1, day: 1)
        return next - days(year: year, month: month, day: 1)
    }

    /// `b - a` of two instants as DuckDB computes it in `zone`: whole wall-clock days first
    /// (as many as fit), then the rest in microseconds of real time. No months.
    static func difference(_ b: Int64, _ a: Int64, zone: TimeZoneRule) -> Interval? {
        if b < a { return difference(a, b, zone: zone)?.negated }
        var d = floorDiv(zone.toLocal(b), msPerDay) - floorDiv(zone.toLocal(a), msPerDay)
        var mid = addDays(d, to: a, zone: zone)
        while d > 0 && mid > b { d -= 1; mid = addDays(d, to: a, zone: zone) }
        let (us, o) = (b - mid).multipliedReportingOverflow(by: 1000)
        return o ? nil : Interval(wide: 0, days: d, micros: us)
    }

    private static func addDays(_ d: Int64, to ms: Int64, zone: TimeZoneRule) -> Int64 {
        let local = zone.toLocal(ms)
        return zone.toUTC(local + d * msPerDay)
    }
}
