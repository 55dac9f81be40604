/// Arithmetic on timestamps, dates and intervals (docs/sql.md, "Time arithmetic"), typed as
/// DuckDB types it:
///
/// | left ∘ right | result |
/// |---|---|
/// | timestamp − timestamp | INTERVAL (whole days, then the rest) |
/// | timestamp ± interval, interval + timestamp | TIMESTAMP WITH TIME ZONE |
/// | date ± interval | TIMESTAMP WITH TIME ZONE (midnight in the query's zone) |
/// | date − date | BIGINT days |
/// | date ± integer | DATE |
/// | interval ± interval | INTERVAL |
/// | interval × number, number × interval, interval ÷ number | INTERVAL |
extension ExpressionBinder {
    func temporalArithmetic(_ op: String, _ l: BoundExpr, _ r: BoundExpr, offset: Int) throws(QueryError) -> BoundExpr? {
        func isTemporal(_ t: SQLType) -> Bool { t == .timestamp || t == .date || t == .interval }
        guard isTemporal(l.type) || isTemporal(r.type) else { return nil }
        var a = l, b = r
        // A NULL takes the type that makes the operation meaningful: NULL − ts is an interval
        // (ts − ts), NULL + ts an interval plus ts; ts ± NULL adds an interval; interval × NULL a number.
        if isNullConstant(a) { a = .constant(.null, op == "-" && b.type != .interval ? b.type : .interval) }
        if isNullConstant(b) { b = .constant(.null, a.type == .interval && (op == "*" || op == "/") ? .bigint : .interval) }
        func ts(_ x: BoundExpr) -> BoundExpr { x.type == .date ? .cast(x, to: .timestamp) : x }
        func isTime(_ t: SQLType) -> Bool { t == .timestamp || t == .date }
        func isInteger(_ x: BoundExpr) -> Bool { x.type == .bigint }
        switch (op, a.type, b.type) {
        case ("-", .date, .date):
            return .arithmetic(op: "-", a, b, .bigint)
        case ("-", let x, let y) where isTime(x) && isTime(y):
            return .arithmetic(op: "-", ts(a), ts(b), .interval)
        case ("+", let x, .interval) where isTime(x), ("-", let x, .interval) where isTime(x):
            return .arithmetic(op: op, ts(a), b, .timestamp)
        case ("+", .interval, let y) where isTime(y):
            return .arithmetic(op: "+", ts(b), a, .timestamp)
        case ("+", .date, .bigint), ("-", .date, .bigint):
            return .arithmetic(op: op, a, b, .date)
        case ("+", .bigint, .date):
            return .arithmetic(op: "+", b, a, .date)
        case ("+", .interval, .interval), ("-", .interval, .interval):
            return .arithmetic(op: op, a, b, .interval)
        case ("*", .interval, let y) where y.isNumeric, ("/", .interval, let y) where y.isNumeric:
            return .arithmetic(op: op, a, b, .interval)
        case ("*", let x, .interval) where x.isNumeric:
            return .arithmetic(op: "*", b, a, .interval)
        default:
            var hint = ""
            if a.type == .varchar || b.type == .varchar { hint = " (write INTERVAL '…' or TIMESTAMP '…' for a constant)" }
            else if isTime(a.type) && b.type.isNumeric { hint = " (add an INTERVAL, like INTERVAL '2 hours')" }
            throw QueryError(.type, "'\(op)' is not defined for \(a.type.sqlName) and \(b.type.sqlName)\(hint)", offset: offset)
        }
    }
}
