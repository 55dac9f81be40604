import StrataCore

/// Resolves names and types: turns a parsed statement into a `BoundQuery`, or says
/// precisely what is wrong and where.
public struct Binder {
    public static let tables = [Tables.tickets, Tables.ticketEvents, Tables.ticketMetrics]
    static let aggregateNames: Set<String> = ["count", "sum", "avg", "mean", "min", "max", "median", "quantile_cont", "quantile"]

    let relation: Relation
    /// Timestamps written without an offset are wall-clock times in this zone.
    var zone: TimeZoneRule = .utc
    /// `now()` of the statement (for pruning ranges such as `created_at >= now() - INTERVAL '7 days'`).
    var nowMs: Int64?
    var visible: [(name: String, type: SQLType)] { relation.columns }
    var scanColumns: [String] = []
    var scanTypes: [SQLType] = []

    /// Binds a statement whose FROM names one of Strata's tables.
    public static func bind(_ s: SelectStatement) throws(QueryError) -> BoundQuery {
        guard case .table(let name, let offset) = s.from else {
            throw QueryError(.name, "this statement reads a subquery: run it through QueryEngine", offset: nil)
        }
        return try bind(s, relation: try Relation.table(name, offset: offset))
    }

    /// Binds a statement over a relation (a table, a WITH name or a subquery's result).
    public static func bind(_ s: SelectStatement, relation: Relation, zone: TimeZoneRule = .utc, now: Int64? = nil) throws(QueryError) -> BoundQuery {
        var b = Binder(relation: relation, zone: zone, nowMs: now)
        return try b.bindSelect(s)
    }

    // MARK: the statement

    mutating func bindSelect(_ s: SelectStatement) throws(QueryError) -> BoundQuery {
        // Select list: * expands to the visible columns.
        var items = [(expr: Expr, name: String)]()
        for item in s.items {
            guard let e = item.expr else {
                items += visible.map { (Expr.column(name: $0.name, offset: item.offset), $0.name) }
                continue
            }
            items.append((e, item.alias ?? Self.displayName(e)))
        }
        let aliases = Dictionary(items.map { ($0.name.lowercased(), $0.expr) }, uniquingKeysWith: { a, _ in a })
        // GROUP BY: an ordinal, a select alias (when no column has that name), or an expression.
        var groupExprs = [Expr]()
        if s.distinct {
            // SELECT DISTINCT a, b … is GROUP BY a, b … over the select list.
            guard s.groupBy.isEmpty, !items.contains(where: { Self.containsAggregate($0.expr) }) else {
                throw QueryError(.unsupported, "SELECT DISTINCT with GROUP BY or aggregates is not supported; use GROUP BY alone", offset: nil)
            }
            groupExprs = items.map(\.expr)
        }
        for g in s.groupBy {
            groupExprs.append(try resolveReference(g, items: items, aliases: aliases, aliasFirst: false, clause: "GROUP BY"))
        }
        let usesAggregates = items.contains { Self.containsAggregate($0.expr) } || (s.having.map(Self.containsAggregate) ?? false)
            || s.orderBy.contains { Self.containsAggregate($0.expr) }
        var q = BoundQuery(table: relation.name, scanColumns: [], scanTypes: [], ranges: [:], filter: nil, isAggregate: usesAggregates || !groupExprs.isEmpty,
                           groupKeys: [], aggregates: [], having: nil, outputs: [], outputNames: items.map(\.name), orderKeys: [],
                           limit: s.limit.map { Int(min($0, Int64(Int.max / 2))) }, offset: Int(min(s.offset ?? 0, Int64(Int.max / 2))), explain: s.explain)
        if let w = s.filter {
            if Self.containsAggregate(w) { throw QueryError(.name, "aggregates are not allowed in WHERE (use HAVING)", offset: w.offset) }
            let f = try bindScalar(w)
            guard f.type == .boolean else { throw QueryError(.type, "WHERE needs a boolean condition, not \(f.type.sqlName)", offset: w.offset) }
            q.filter = f
            if let schema = relation.schema { q.ranges = Self.ranges(of: w, schema: schema, zone: zone, now: nowMs) }
        }
        if q.isAggregate {
            var post = PostAggregateScope(groupExprs: groupExprs)
            for g in groupExprs {
                if Self.containsAggregate(g) { throw QueryError(.name, "aggregates are not allowed in GROUP BY", offset: g.offset) }
                q.groupKeys.append(try bindScalar(g))
            }
            post.groupTypes = q.groupKeys.map(\.type)
            for item in items { q.outputs.append(try bindPost(item.expr, &post)) }
            if let h = s.having {
                let bound = try bindPost(h, &post)
                guard bound.type == .boolean else { throw QueryError(.type, "HAVING needs a boolean condition", offset: h.offset) }
                q.having = bound
            }
            for o in s.orderBy {
                let e = try resolveReference(o.expr, items: items, aliases: aliases, aliasFirst: true, clause: "ORDER BY")
                q.orderKeys.append((try bindPost(e, &post), o.descending, o.nullsFirst ?? false))
            }
            q.aggregates = post.aggregates
            // Aggregate arguments are bound over the scan batch.
            for (k, a) in post.aggregateCalls.enumerated() {
                if case .call(_, let args, _, let star, let filter, _) = a {
                    if !star, let first = args.first { q.aggregates[k].argument = try bindScalar(first) }
                    if let filter { q.aggregates[k].filter = try bindScalar(filter) }
                }
            }
        } else {
            if s.having != nil { throw QueryError(.name, "HAVING needs GROUP BY or an aggregate", offset: nil) }
            for item in items { q.outputs.append(try bindScalar(item.expr)) }
            for o in s.orderBy {
                let e = try resolveReference(o.expr, items: items, aliases: aliases, aliasFirst: true, clause: "ORDER BY")
                q.orderKeys.append((try bindScalar(e), o.descending, o.nullsFirst ?? false))
            }
        }
        q.scanColumns = scanColumns
        q.scanTypes = scanTypes
        return q
    }

    /// An ORDER BY / GROUP BY item: an ordinal picks a select item; a bare name that is a
    /// select alias picks that item (ORDER BY prefers aliases; GROUP BY prefers columns).
    func resolveReference(_ e: Expr, items: [(expr: Expr, name: String)], aliases: [String: Expr], aliasFirst: Bool, clause: String) throws(QueryError) -> Expr {
        if case .integer(let n) = e {
            guard n >= 1 && n <= items.count else { throw QueryError(.name, "\(clause) position \(n) is not in the select list (1...\(items.count))", offset: nil) }
            return items[Int(n) - 1].expr
        }
        if case .column(let name, _) = e, let aliased = aliases[name.lowercased()] {
            let isColumn = visible.contains { $0.name == name.lowercased() }
            if aliasFirst || !isColumn { return aliased }
        }
        return e
    }

    static func displayName(_ e: Expr) -> String {
        switch e {
        case .column(let n, _): return n
        case .call(let n, let args, _, let star, _, _): return star ? "count_star()" : "\(n)(\(args.map(displayName).joined(separator: ", ")))"
        case .cast(let inner, let t, _): return "CAST(\(displayName(inner)) AS \(t.uppercased()))"
        case .integer(let v): return String(v)
        case .string(let s): return "'\(s)'"
        case .decimal(let d): return "\(d)"
        case .typed(let t, let text, _): return "\(t.uppercased()) '\(text)'"
        case .binary(let op, let l, let r, _): return "(\(displayName(l)) \(op) \(displayName(r)))"
        case .unary(let op, let x): return op == "NOT" ? "(NOT \(displayName(x)))" : "-\(displayName(x))"
        default: return e.key
        }
    }

    static func containsAggregate(_ e: Expr) -> Bool {
        switch e {
        case .call(let n, let args, _, _, let f, _): return aggregateNames.contains(n) || args.contains(where: containsAggregate) || (f.map(containsAggregate) ?? false)
        case .unary(_, let a), .isNull(let a, _), .cast(let a, _, _): return containsAggregate(a)
        case .binary(_, let a, let b, _), .like(let a, let b, _, _): return containsAggregate(a) || containsAggregate(b)
        case .between(let a, let b, let c, _): return containsAggregate(a) || containsAggregate(b) || containsAggregate(c)
        case .inList(let a, let l, _): return containsAggregate(a) || l.contains(where: containsAggregate)
        case .inSubquery(let a, _, _, _): return containsAggregate(a)
        case .caseWhen(let o, let br, let el):
            return (o.map(containsAggregate) ?? false) || br.contains { containsAggregate($0.0) || containsAggregate($0.1) } || (el.map(containsAggregate) ?? false)
        default: return false
        }
    }

    // MARK: scalar expressions over the scan

    mutating func columnRef(_ name: String, offset: Int) throws(QueryError) -> BoundExpr {
        let lower = name.lowercased()
        // Unquoted names are lower case; a quoted name (a derived column such as "count_star()") matches as written.
        guard let def = visible.first(where: { $0.name == lower }) ?? visible.first(where: { $0.name == name }) else {
            let hint = Self.nearest(lower, visible.map(\.name)).map { "; did you mean \($0)?" } ?? ""
            throw QueryError(.name, "unknown column '\(name)' in \(relation.describe)\(hint)", offset: offset)
        }
        if let i = scanColumns.firstIndex(of: def.name) { return .column(i, def.type) }
        scanColumns.append(def.name)
        scanTypes.append(def.type)
        return .column(scanColumns.count - 1, def.type)
    }

    mutating func bindScalar(_ e: Expr) throws(QueryError) -> BoundExpr {
        try ExpressionBinder.bind(e, zone: zone) { (name: String, offset: Int) throws(QueryError) -> BoundExpr in try self.columnRef(name, offset: offset) }
    }

    // MARK: after aggregation

    struct PostAggregateScope {
        var groupExprs: [Expr]
        var groupTypes: [SQLType] = []
        var aggregates: [BoundAggregate] = []
        var aggregateCalls: [Expr] = []
    }

    /// Binds an expression evaluated per group: group-key expressions and aggregates become
    /// columns of the post-aggregation batch (keys first, then aggregates).
    mutating func bindPost(_ e: Expr, _ scope: inout PostAggregateScope) throws(QueryError) -> BoundExpr {
        if let k = scope.groupExprs.firstIndex(where: { $0.key == e.key }) { return .column(k, scope.groupTypes[k]) }
        if case .call(let name, let args, let distinct, let star, let filter, let offset) = e, Self.aggregateNames.contains(name) {
            if let k = scope.aggregateCalls.firstIndex(where: { $0.key == e.key }) {
                return .column(scope.groupExprs.count + k, scope.aggregates[k].type)
            }
            for a in args where Self.containsAggregate(a) { throw QueryError(.name, "aggregates cannot be nested", offset: a.offset) }
            let agg = try aggregate(name: name, args: args, distinct: distinct, star: star, filter: filter, offset: offset)
            scope.aggregates.append(agg)
            scope.aggregateCalls.append(e)
            return .column(scope.groupExprs.count + scope.aggregates.count - 1, agg.type)
        }
        var inner = self
        var captured = scope
        let bound = try ExpressionBinder.bind(e, zone: zone) { (name: String, offset: Int) throws(QueryError) -> BoundExpr in
            throw QueryError(.name, "column '\(name)' must appear in GROUP BY or be used in an aggregate function", offset: offset)
        } recurse: { (sub: Expr) throws(QueryError) -> BoundExpr? in
            if captured.groupExprs.contains(where: { $0.key == sub.key }) || (Self.isAggregateCall(sub)) {
                return try inner.bindPost(sub, &captured)
            }
            return nil
        }
        self = inner
        scope = captured
        return bound
    }

    static func isAggregateCall(_ e: Expr) -> Bool {
        if case .call(let n, _, _, _, _, _) = e { return aggregateNames.contains(n) }
        return false
    }

    func aggregate(name: String, args: [Expr], distinct: Bool, star: Bool, filter: Expr?, offset: Int) throws(QueryError) -> BoundAggregate {
        // Argument types are needed for the result type: bind on a copy (the real binding,
        // which records scan columns, happens after).
        var probe = self
        let argType: SQLType? = try args.first.map { (a: Expr) throws(QueryError) -> SQLType in try probe.bindScalar(a).type }
        func need(_ n: Int) throws(QueryError) {
            guard args.count == n else { throw QueryError(.name, "\(name) takes \(n) argument\(n == 1 ? "" : "s"), not \(args.count)", offset: offset) }
        }
        switch name {
        case "count":
            if star { return BoundAggregate(function: .countStar, argument: nil, distinct: false, filter: nil, type: .bigint) }
            try need(1)
            return BoundAggregate(function: .count, argument: nil, distinct: distinct, filter: nil, type: .bigint)
        case "sum":
            try need(1)
            guard let t = argType, t.isNumeric else { throw QueryError(.type, "sum needs a number, not \(argType?.sqlName ?? "?")", offset: offset) }
            return BoundAggregate(function: .sum, argument: nil, distinct: distinct, filter: nil, type: t)
        case "avg", "mean":
            try need(1)
            if argType == .interval {
                if distinct { throw QueryError(.unsupported, "avg(DISTINCT …) of an INTERVAL is not supported", offset: offset) }
                return BoundAggregate(function: .avg, argument: nil, distinct: false, filter: nil, type: .interval)
            }
            guard let t = argType, t.isNumeric else { throw QueryError(.type, "avg needs a number or an INTERVAL, not \(argType?.sqlName ?? "?")", offset: offset) }
            return BoundAggregate(function: .avg, argument: nil, distinct: distinct, filter: nil, type: .double)
        case "min", "max":
            try need(1)
            return BoundAggregate(function: name == "min" ? .min : .max, argument: nil, distinct: false, filter: nil, type: argType!)
        case "median", "quantile_cont", "quantile":
            var fraction = 0.5
            if name == "median" { try need(1) } else {
                try need(2)
                switch args[1] {
                case .decimal(let d): fraction = d
                case .integer(let i): fraction = Double(i)
                default: throw QueryError(.type, "\(name)'s fraction must be a constant between 0 and 1", offset: offset)
                }
                guard fraction >= 0 && fraction <= 1 else { throw QueryError(.type, "\(name)'s fraction must be between 0 and 1, not \(fraction)", offset: offset) }
            }
            if argType == .interval && name != "median" {
                throw QueryError(.type, "\(name) of an INTERVAL is not supported (DuckDB has none either): use median, or \(name)(epoch(x), …) for seconds", offset: offset)
            }
            guard let t = argType, t.isNumeric || t == .timestamp || t == .interval else { throw QueryError(.type, "\(name) needs a number, not \(argType?.sqlName ?? "?")", offset: offset) }
            if distinct { throw QueryError(.unsupported, "\(name)(DISTINCT …) is not supported", offset: offset) }
            return BoundAggregate(function: .quantileCont, argument: nil, distinct: false, filter: nil, fraction: fraction, type: t == .timestamp || t == .interval ? t : .double)
        default:
            throw QueryError(.unsupported, "unknown aggregate \(name)", offset: offset)
        }
    }

    // MARK: pruning hints

    /// `col op constant` and `col IS NOT NULL` conjuncts on integer columns, as inclusive
    /// ranges (a range drops nulls).
    static func ranges(of e: Expr, schema: TableSchema, zone: TimeZoneRule = .utc, now: Int64? = nil) -> [String: ClosedRange<Int64>] {
        var out = [String: ClosedRange<Int64>]()
        func constant(_ x: Expr, _ type: LogicalType) -> Int64? {
            switch x {
            case .call(let name, let args, _, _, _, _) where type == .timestamp && args.isEmpty && (name == "now" || name == "current_timestamp"):
                return now
            case .binary(let op, let base, .typed("interval", let text, _), _) where type == .timestamp && (op == "+" || op == "-"):
                // The same arithmetic as the evaluator's (TimeMath.add in the query's zone).
                guard let t = constant(base, type), let iv = Interval.parse(text), let step = op == "-" ? iv.negated : iv else { return nil }
                return TimeMath.add(step, to: t, zone: zone)
            case .integer(let v) where type != .timestamp: return v
            case .typed(let t, let text, _) where type == .timestamp && (t == "timestamp" || t == "timestamptz"): return TimeMath.parseTimestamp(text, zone: zone)
            case .typed("date", let text, _) where type == .timestamp: return TimeMath.parseDateMidnight(text, zone: zone)
            case .string(let text) where type == .timestamp: return TimeMath.parseTimestamp(text, zone: zone)
            default: return nil
            }
        }
        func add(_ name: String, _ r: ClosedRange<Int64>) {
            guard let old = out[name] else { out[name] = r; return }
            let lo = max(old.lowerBound, r.lowerBound), hi = min(old.upperBound, r.upperBound)
            // An empty intersection keeps a one-value range: pruning stays safe, the filter decides.
            out[name] = lo <= hi ? lo...hi : Int64.max...Int64.max
        }
        let flip = ["<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "="]
        func visit(_ e: Expr) {
            switch e {
            case .binary("AND", let l, let r, _): visit(l); visit(r)
            case .binary(let op, let l, let r, _):
                let name: String, c: Expr, o: String
                if case .column(let n, _) = l { name = n; c = r; o = op } else if case .column(let n, _) = r { name = n; c = l; o = flip[op] ?? "" } else { return }
                guard let def = schema.columns.first(where: { $0.name == name.lowercased() }), def.type.isInteger, let v = constant(c, def.type) else { return }
                switch o {
                case "=": add(def.name, v...v)
                case "<": if v > Int64.min { add(def.name, Int64.min...(v - 1)) }
                case "<=": add(def.name, Int64.min...v)
                case ">": if v < Int64.max { add(def.name, (v + 1)...Int64.max) }
                case ">=": add(def.name, v...Int64.max)
                default: break
                }
            case .isNull(.column(let name, _), negated: true):
                // `col IS NOT NULL`: any value, so rows where it is null go before decoding.
                guard let def = schema.columns.first(where: { $0.name == name.lowercased() }), def.type.isInteger else { return }
                add(def.name, Int64.min...Int64.max)
            case .between(.column(let name, _), let lo, let hi, false):
                guard let def = schema.columns.first(where: { $0.name == name.lowercased() }), def.type.isInteger,
                      let a = constant(lo, def.type), let b = constant(hi, def.type), a <= b else { return }
                add(def.name, a...b)
            default: break
            }
        }
        visit(e)
        return out
    }

    /// The closest name by edit distance, if close enough to be a likely typo.
    static func nearest(_ name: String, _ candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var prev = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var cur = [i] + Array(repeating: 0, count: b.count)
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                prev = cur
            }
            return prev[b.count]
        }
        let scored = candidates.map { ($0, distance(Array(name), Array($0))) }.min { $0.1 < $1.1 }
        guard let best = scored, best.1 <= max(2, name.count / 3) else { return nil }
        return best.0
    }
}
