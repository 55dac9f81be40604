/// The scalar functions of the subset (docs/sql.md, "Functions"): argument checks and result types.
enum Functions {
    static let units: Set<String> = ["millisecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year",
                                     "milliseconds", "seconds", "minutes", "hours", "days", "weeks", "months", "quarters", "years"]
    static let parts: Set<String> = ["year", "quarter", "month", "day", "hour", "minute", "second", "dow", "isodow", "doy", "epoch"]
    static let intervalParts: Set<String> = ["year", "quarter", "month", "day", "hour", "minute", "second", "millisecond", "microsecond", "epoch"]
    /// to_seconds(n) and friends: the interval of one unit.
    static let intervalConstructors: [String: Interval] = [
        "to_microseconds": Interval(months: 0, days: 0, micros: 1), "to_milliseconds": Interval(months: 0, days: 0, micros: 1000),
        "to_seconds": Interval(months: 0, days: 0, micros: 1_000_000), "to_minutes": Interval(months: 0, days: 0, micros: 60_000_000),
        "to_hours": Interval(months: 0, days: 0, micros: 3_600_000_000), "to_days": Interval(months: 0, days: 1, micros: 0),
        "to_weeks": Interval(months: 0, days: 7, micros: 0), "to_months": Interval(months: 1, days: 0, micros: 0),
        "to_years": Interval(months: 12, days: 0, micros: 0),
    ]

    static func bind(_ name: String, _ args: [BoundExpr], offset: Int, zone: TimeZoneRule = .utc) throws(QueryError) -> BoundExpr {
        func need(_ n: Int) throws(QueryError) {
            guard args.count == n else { throw QueryError(.name, "\(name) takes \(n) argument\(n == 1 ? "" : "s"), not \(args.count)", offset: offset) }
        }
        func time(_ i: Int) throws(QueryError) -> BoundExpr {
            let a = args[i]
            if a.type == .timestamp { return a }
            if a.type == .date { return .cast(a, to: .timestamp) }
            if case .constant(.string(let s), _) = a, let ms = TimeMath.parseTimestamp(s, zone: zone) { return .constant(.int(ms), .timestamp) }
            throw QueryError(.type, "\(name) needs a timestamp or date, not \(a.type.sqlName)", offset: offset)
        }
        func unit(_ i: Int, _ allowed: Set<String>) throws(QueryError) -> BoundExpr {
            guard case .constant(.string(let u), _) = args[i], allowed.contains(u.lowercased()) else {
                throw QueryError(.type, "\(name)'s first argument is a constant unit: \(allowed.sorted().filter { !$0.hasSuffix("s") || $0 == "dow" }.joined(separator: ", "))", offset: offset)
            }
            return .constant(.string(u.lowercased()), .varchar)
        }
        switch name {
        case "epoch_ms":
            try need(1)
            // epoch_ms(BIGINT) is the other way: milliseconds since 1970 as a timestamp.
            if args[0].type == .bigint { return .function(name: "epoch_ms_to_timestamp", [args[0]], .timestamp) }
            return .function(name: name, [try time(0)], .bigint)
        case "date_trunc":
            try need(2)
            return .function(name: name, [try unit(0, units), try time(1)], .timestamp)
        case "date_part", "datepart":
            try need(2)
            if args[1].type == .interval {
                let u = try unit(0, intervalParts)
                return .function(name: "date_part", [u, args[1]], u.isConstant("epoch") ? .double : .bigint)
            }
            let u = try unit(0, parts)
            return .function(name: "date_part", [u, try time(1)], u.isConstant("epoch") ? .double : .bigint)
        case "epoch":
            try need(1)
            return .function(name: name, [args[0].type == .interval ? args[0] : try time(0)], .double)
        case let n where intervalConstructors[n] != nil:
            try need(1)
            let fractional: Set<String> = ["to_seconds", "to_milliseconds", "to_microseconds"]
            guard args[0].type == .bigint || (args[0].type == .double && fractional.contains(n)) else {
                throw QueryError(.type, "\(n) needs \(fractional.contains(n) ? "a number" : "an integer"), not \(args[0].type.sqlName)", offset: offset)
            }
            return .function(name: "to_interval", [args[0], .constant(.interval(intervalConstructors[n]!), .interval)], .interval)
        case "date_diff", "datediff":
            try need(3)
            return .function(name: "date_diff", [try unit(0, units), try time(1), try time(2)], .bigint)
        case "now", "current_timestamp":
            try need(0)
            return .function(name: "now", [], .timestamp)
        case "coalesce":
            guard !args.isEmpty else { throw QueryError(.name, "coalesce needs at least one argument", offset: offset) }
            var type: SQLType?
            for a in args {
                if case .constant(.null, _) = a { continue }
                if let t = type, t != a.type {
                    if t.isNumeric && a.type.isNumeric { type = .double; continue }
                    throw QueryError(.type, "coalesce mixes \(t.sqlName) and \(a.type.sqlName)", offset: offset)
                }
                type = type ?? a.type
            }
            let t = type ?? .varchar
            return .function(name: name, args.map { a in
                if case .constant(.null, _) = a { return .constant(.null, t) }
                return a.type == t ? a : .cast(a, to: t)
            }, t)
        case "abs":
            try need(1)
            guard args[0].type.isNumeric else { throw QueryError(.type, "abs needs a number", offset: offset) }
            return .function(name: name, args, args[0].type)
        case "round":
            guard args.count == 1 || args.count == 2, args[0].type.isNumeric else { throw QueryError(.type, "round(number[, digits])", offset: offset) }
            if args.count == 2 { guard case .constant(.int, _) = args[1] else { throw QueryError(.type, "round's digits must be a constant integer", offset: offset) } }
            return .function(name: name, args, args[0].type)
        case "floor", "ceil", "ceiling":
            try need(1)
            guard args[0].type.isNumeric else { throw QueryError(.type, "\(name) needs a number", offset: offset) }
            return .function(name: name == "ceiling" ? "ceil" : name, args, args[0].type)
        case "lower", "upper", "length":
            try need(1)
            guard args[0].type == .varchar else { throw QueryError(.type, "\(name) needs text", offset: offset) }
            return .function(name: name, args, name == "length" ? .bigint : .varchar)
        case "nullif":
            try need(2)
            return .function(name: name, args, args[0].type)
        default:
            throw QueryError(.unsupported, "unknown function \(name)", offset: offset)
        }
    }
}
