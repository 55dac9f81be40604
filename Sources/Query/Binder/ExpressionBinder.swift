/// Binds one expression: resolves columns through `resolve`, checks and infers types,
/// folds typed literals. In post-aggregation binding, `recurse` claims sub-expressions
/// that are group keys or aggregates.
struct ExpressionBinder {
    typealias Resolve = (String, Int) throws(QueryError) -> BoundExpr
    typealias Recurse = (Expr) throws(QueryError) -> BoundExpr?

    static func bind(_ e: Expr, zone: TimeZoneRule = .utc, _ resolve: Resolve, recurse: Recurse = { _ in nil }) throws(QueryError) -> BoundExpr {
        do {
            return try withoutActuallyEscaping(resolve) { r in
                try withoutActuallyEscaping(recurse) { c in try ExpressionBinder(resolve: r, recurse: c, zone: zone).bind(e) }
            }
        } catch let q as QueryError {
            throw q
        } catch {
            throw QueryError(.execution, "\(error)", offset: nil)
        }
    }

    let resolve: (String, Int) throws(QueryError) -> BoundExpr
    let recurse: (Expr) throws(QueryError) -> BoundExpr?
    let zone: TimeZoneRule

    func bind(_ e: Expr) throws(QueryError) -> BoundExpr {
        if let claimed = try recurse(e) { return claimed }
        switch e {
        case .column(let name, let offset): return try resolve(name, offset)
        case .integer(let v): return .constant(.int(v), .bigint)
        case .decimal(let v): return .constant(.double(v), .double)
        case .string(let s): return .constant(.string(s), .varchar)
        case .null: return .constant(.null, .varchar)
        case .boolean(let v): return .constant(.int(v ? 1 : 0), .boolean)
        case .typed(let type, let text, let offset):
            switch type {
            case "timestamp", "timestamptz":
                guard let ms = TimeMath.parseTimestamp(text, zone: zone) else { throw QueryError(.type, "'\(text)' is not a timestamp (YYYY-MM-DD HH:MM:SS[+HH])", offset: offset) }
                return .constant(.int(ms), .timestamp)
            case "date":
                guard let d = TimeMath.parseDate(text) else { throw QueryError(.type, "'\(text)' is not a date (YYYY-MM-DD)", offset: offset) }
                return .constant(.int(d), .date)
            default:
                guard let iv = Interval.parse(text) else {
                    throw QueryError(.type, "'\(text)' is not an interval (like '2 days 3 hours', '90 minutes' or '01:30:00')", offset: offset)
                }
                return .constant(.interval(iv), .interval)
            }
        case .unary(let op, let inner):
            let x = try bind(inner)
            if op == "NOT" {
                guard x.type == .boolean || isNullConstant(x) else { throw QueryError(.type, "NOT needs a boolean, not \(x.type.sqlName)", offset: inner.offset) }
                return .not(x)
            }
            guard x.type.isNumeric || x.type == .interval else { throw QueryError(.type, "cannot negate \(x.type.sqlName)", offset: inner.offset) }
            return .negate(x)
        case .binary(let op, let l, let r, let offset):
            var a = try bind(l), b = try bind(r)
            // DuckDB computes a BIGINT with a literal such as 2.0 in DECIMAL, exactly; Strata in
            // DOUBLE. The two agree while the integer fits a double's 53 bits; past that, the
            // integer is refused at run time rather than rounded (`exact_double`).
            if ["+", "-", "*", "%"].contains(op) {
                func isDecimalLiteral(_ e: Expr) -> Bool {
                    if case .decimal = e { return true }
                    if case .unary("-", let inner) = e, case .decimal = inner { return true }
                    return false
                }
                if isDecimalLiteral(r) && a.type == .bigint { a = .function(name: "exact_double", [a], .double) }
                if isDecimalLiteral(l) && b.type == .bigint { b = .function(name: "exact_double", [b], .double) }
            }
            return try binary(op, a, b, offset: offset)
        case .isNull(let inner, let negated):
            return .isNull(try bind(inner), negated: negated)
        case .inList(let inner, let list, let negated):
            let x = try bind(inner)
            var items = [BoundExpr]()
            for item in list { items.append(try coerce(try bind(item), to: x.type, offset: item.offset ?? e.offset)) }
            return .inList(x, items, negated: negated)
        case .inSubquery(_, _, _, let offset):
            throw QueryError(.unsupported, "IN (subquery) is only resolved by QueryEngine", offset: offset)
        case .between(let inner, let lo, let hi, let negated):
            let x = try bind(inner)
            let both = BoundExpr.and(try binary(">=", x, try bind(lo), offset: e.offset ?? 0), try binary("<=", x, try bind(hi), offset: e.offset ?? 0))
            return negated ? .not(both) : both
        case .like(let inner, let pattern, let ci, let negated):
            let x = try bind(inner), p = try bind(pattern)
            guard x.type == .varchar && p.type == .varchar else { throw QueryError(.type, "LIKE needs text on both sides", offset: inner.offset) }
            return .like(x, pattern: p, caseInsensitive: ci, negated: negated)
        case .caseWhen(let operand, let branches, let otherwise):
            var bound = [(BoundExpr, BoundExpr)]()
            let op = try operand.map { (o: Expr) throws(QueryError) -> BoundExpr in try bind(o) }
            var resultType: SQLType?
            var results = [BoundExpr]()
            for (w, t) in branches {
                var cond = try bind(w)
                if let op { cond = try binary("=", op, cond, offset: w.offset ?? 0) }
                guard cond.type == .boolean else { throw QueryError(.type, "WHEN needs a boolean condition", offset: w.offset) }
                let r = try bind(t)
                results.append(r)
                bound.append((cond, r))
                resultType = try unify(resultType, r, offset: t.offset)
            }
            let other = try otherwise.map { (o: Expr) throws(QueryError) -> BoundExpr in try bind(o) }
            if let other { resultType = try unify(resultType, other, offset: otherwise?.offset) }
            let type = resultType ?? .varchar
            var coerced = [(BoundExpr, BoundExpr)]()
            for (c, r) in bound { coerced.append((c, try coerce(r, to: type, offset: nil))) }
            return .caseWhen(branches: coerced, otherwise: try other.map { (o: BoundExpr) throws(QueryError) -> BoundExpr in try coerce(o, to: type, offset: nil) }, type)
        case .cast(let inner, let typeName, let offset):
            let x = try bind(inner)
            guard let t = Self.typeNamed(typeName) else { throw QueryError(.type, "unknown type \(typeName.uppercased())", offset: offset) }
            return try cast(x, to: t, offset: offset)
        case .call(let name, let args, let distinct, let star, let filter, let offset):
            if Binder.aggregateNames.contains(name) {
                throw QueryError(.name, "aggregate \(name) is not allowed here", offset: offset)
            }
            if distinct || star || filter != nil { throw QueryError(.syntax, "DISTINCT, * and FILTER belong to aggregates, not \(name)", offset: offset) }
            if name == "time_bucket" {
                // time_bucket(INTERVAL 'n unit', ts): buckets of a fixed width from 2000-01-03 00:00:00+00, as DuckDB.
                guard args.count == 2, case .constant(.interval(let iv), _) = try bind(args[0]) else {
                    throw QueryError(.name, "time_bucket takes (INTERVAL 'n unit', timestamp)", offset: offset)
                }
                let widthMicros = Int64(iv.days) * Interval.microsPerDay + iv.micros
                guard iv.months == 0, widthMicros > 0, widthMicros % 1000 == 0 else {
                    throw QueryError(.type, "time_bucket needs a positive width of whole milliseconds, days or weeks, not '\(iv)' (for months use date_trunc)", offset: args[0].offset)
                }
                let width = widthMicros / 1000
                let ts = try bind(args[1])
                guard ts.type == .timestamp || ts.type == .date else { throw QueryError(.type, "time_bucket needs a timestamp, not \(ts.type.sqlName)", offset: offset) }
                return .function(name: "time_bucket", [.constant(.int(width), .bigint), ts.type == .date ? .cast(ts, to: .timestamp) : ts], .timestamp)
            }
            var bound = [BoundExpr]()
            for a in args { bound.append(try bind(a)) }
            return try Functions.bind(name, bound, offset: offset, zone: zone)
        }
    }

    func isNullConstant(_ x: BoundExpr) -> Bool {
        if case .constant(.null, _) = x { return true }
        return false
    }

    /// The type of CASE results so far with one more; a NULL constant takes any type (nil: only NULLs yet).
    func unify(_ current: SQLType?, _ x: BoundExpr, offset: Int?) throws(QueryError) -> SQLType? {
        if isNullConstant(x) { return current }
        guard let current, current != x.type else { return x.type }
        if current.isNumeric && x.type.isNumeric { return .double }
        throw QueryError(.type, "CASE branches mix \(current.sqlName) and \(x.type.sqlName)", offset: offset)
    }

    static func typeNamed(_ n: String) -> SQLType? {
        switch n {
        case "date": return .date
        case "timestamp", "timestamptz": return .timestamp
        case "varchar", "text", "string": return .varchar
        case "double", "float", "float8", "real", "float4", "decimal", "numeric": return .double
        case "bigint", "int", "integer", "int8", "int4", "smallint", "tinyint", "int2", "int1", "hugeint": return .bigint
        case "boolean", "bool": return .boolean
        case "interval": return .interval
        default: return nil
        }
    }

    /// A constant string compared with a timestamp or date is read as one (as DuckDB does);
    /// a typed NULL takes any type.
    func coerce(_ x: BoundExpr, to type: SQLType, offset: Int?) throws(QueryError) -> BoundExpr {
        if x.type == type { return x }
        if case .constant(.null, _) = x { return .constant(.null, type) }
        if case .constant(.string(let s), _) = x {
            switch type {
            case .timestamp:
                guard let ms = TimeMath.parseTimestamp(s, zone: zone) else { throw QueryError(.type, "'\(s)' is not a timestamp", offset: offset) }
                return .constant(.int(ms), .timestamp)
            case .date:
                guard let d = TimeMath.parseDate(s) else { throw QueryError(.type, "'\(s)' is not a date", offset: offset) }
                return .constant(.int(d), .date)
            case .interval:
                guard let iv = Interval.parse(s) else { throw QueryError(.type, "'\(s)' is not an interval", offset: offset) }
                return .constant(.interval(iv), .interval)
            default: break
            }
        }
        if x.type.isNumeric && type.isNumeric { return type == .double ? .cast(x, to: .double) : x }
        if x.type == .date && type == .timestamp { return .cast(x, to: .timestamp) }
        if x.type == .timestamp && type == .date { return x }
        throw QueryError(.type, "cannot compare \(x.type.sqlName) with \(type.sqlName)", offset: offset)
    }

    func cast(_ x: BoundExpr, to t: SQLType, offset: Int) throws(QueryError) -> BoundExpr {
        if x.type == t { return x }
        if case .constant(.null, _) = x { return .constant(.null, t) }
        switch (x.type, t) {
        case (.timestamp, .date), (.date, .timestamp), (_, .varchar), (.bigint, .double), (.double, .bigint), (.boolean, .bigint),
             (.varchar, .bigint), (.varchar, .double), (.varchar, .timestamp), (.varchar, .date), (.bigint, .boolean), (.varchar, .interval):
            return .cast(x, to: t)
        default:
            throw QueryError(.type, "cannot cast \(x.type.sqlName) to \(t.sqlName)", offset: offset)
        }
    }

    func binary(_ op: String, _ l: BoundExpr, _ r: BoundExpr, offset: Int) throws(QueryError) -> BoundExpr {
        switch op {
        case "AND", "OR":
            for x in [l, r] where x.type != .boolean && !isNullConstant(x) {
                throw QueryError(.type, "\(op) needs booleans, not \(x.type.sqlName)", offset: offset)
            }
            return op == "AND" ? .and(l, r) : .or(l, r)
        case "=", "<>", "<", "<=", ">", ">=":
            var a = l, b = r
            if a.type != b.type {
                if isNullConstant(a) { a = .constant(.null, b.type) }
                else if isNullConstant(b) { b = .constant(.null, a.type) }
                else if a.type.isNumeric && b.type.isNumeric { a = try coerce(a, to: .double, offset: offset); b = try coerce(b, to: .double, offset: offset) }
                else if case .constant = b { b = try coerce(b, to: a.type, offset: offset) }
                else if case .constant = a { a = try coerce(a, to: b.type, offset: offset) }
                else if (a.type == .date && b.type == .timestamp) || (a.type == .timestamp && b.type == .date) {
                    a = try coerce(a, to: .timestamp, offset: offset); b = try coerce(b, to: .timestamp, offset: offset)
                } else {
                    throw QueryError(.type, "cannot compare \(a.type.sqlName) with \(b.type.sqlName)", offset: offset)
                }
            }
            return .compare(op: op, a, b)
        case "||":
            return .function(name: "concat", [try cast(l, to: .varchar, offset: offset), try cast(r, to: .varchar, offset: offset)], .varchar)
        default:
            if let temporal = try temporalArithmetic(op, l, r, offset: offset) { return temporal }
            var a = l, b = r
            if isNullConstant(a) { a = .constant(.null, b.type == .double ? .double : .bigint) }
            if isNullConstant(b) { b = .constant(.null, a.type == .double ? .double : .bigint) }
            guard a.type.isNumeric && b.type.isNumeric else {
                throw QueryError(.type, "'\(op)' needs numbers, not \(a.type.sqlName) and \(b.type.sqlName)", offset: offset)
            }
            // Integer division gives a DOUBLE, as in DuckDB; // is not in this subset.
            let type: SQLType = (op == "/" || a.type == .double || b.type == .double) ? .double : .bigint
            return .arithmetic(op: op, a, b, type)
        }
    }
}
