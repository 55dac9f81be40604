#if canImport(Glibc)
import Glibc
#endif
import StrataCore

/// A query's answer: named, typed columns and rows of values.
public struct QueryResult: Sendable {
    public var columns: [(name: String, type: SQLType)]
    public var rows: [[Value]]
    public var stats = ScanStats()
    /// The zone its timestamps are shown in.
    public var timeZone: TimeZoneRule = .utc

    public init(columns: [(name: String, type: SQLType)], rows: [[Value]], stats: ScanStats = ScanStats(), timeZone: TimeZoneRule = .utc) {
        self.columns = columns
        self.rows = rows
        self.stats = stats
        self.timeZone = timeZone
    }
}

/// Runs SQL over a `TableSource`: parse → bind → scan, filter, aggregate, sort, limit.
public struct QueryEngine {
    public let source: TableSource
    public var maxResultRows = QueryLimits.defaultMaxResultRows
    public var maxGroups = QueryLimits.defaultMaxGroups
    public var maxDistinctValues = QueryLimits.defaultMaxDistinctValues
    /// When waiting DISTINCT values go into their sets (tests make it small).
    var distinctBatching = DistinctBatching()
    public var maxStreamedRows = QueryLimits.defaultMaxStreamedRows
    /// Threads for scans whose results merge (aggregates, ORDER BY); at most `QueryLimits.maxThreads`.
    public var threads = 1 {
        didSet { threads = min(max(threads, 1), QueryLimits.maxThreads) }
    }
    /// A query still running after this many seconds is stopped (checked between batches).
    public var timeoutSeconds: Double = 300
    /// True once whoever waits for the answer has gone: the query stops at its next check
    /// (between batches, and every 1,024 rows of a long evaluation).
    public var isCancelled: (@Sendable () -> Bool)? = nil
    /// Day and week boundaries, date parts, timestamps written without an offset, and the
    /// text of results follow this zone (UTC unless set).
    public var timeZone: TimeZoneRule = .utc
    /// `now()` of the statement running: one instant for pruning and for evaluation.
    var statementNow: Int64?

    public init(source: TableSource) {
        self.source = source
    }

    /// The same as `execute`, as a value (simpler for callers that render the error).
    public func result(_ sql: String) -> Result<QueryResult, QueryError> {
        do { return .success(try execute(sql)) } catch { return .failure(error) }
    }

    public func execute(_ sql: String) throws(QueryError) -> QueryResult {
        var engine = self
        engine.statementNow = Self.nowMs()
        return try engine.execute(try Parser.parse(sql), named: [:])
    }

    /// Runs a query and hands its answer over as it comes: `start` with the columns once the
    /// query is bound (errors in the text are thrown before it), then `rows` chunk by chunk;
    /// `rows` returns false to stop (the reader went away). A query without aggregates and
    /// ORDER BY streams as it scans, holds no result in memory and is bounded by
    /// `maxStreamedRows` instead of `maxResultRows` (the way to export); others are computed
    /// first, then handed over in chunks. Returns what the scan read and pruned.
    @discardableResult
    public func stream(_ sql: String, start: @escaping ([(name: String, type: SQLType)]) -> Void,
                       rows: @escaping (ArraySlice<[Value]>) -> Bool) throws(QueryError) -> ScanStats {
        var engine = self
        engine.statementNow = Self.nowMs()
        return try engine.execute(try Parser.parse(sql), named: [:], emit: RowEmitter(start: start, rows: rows)).stats
    }

    /// Runs the WITH queries first (each sees the ones before it), then a subquery in
    /// FROM, then the statement over that relation. Results in between are materialized,
    /// under the same row limit.
    func execute(_ s0: SelectStatement, named: [String: QueryResult], emit: RowEmitter? = nil) throws(QueryError) -> QueryResult {
        var named = named
        for (name, statement) in s0.with { named[name] = try execute(statement, named: named) }
        // IN (SELECT …) runs first (it cannot refer to the outer query) and becomes a list.
        var s = s0
        s.filter = try s.filter.map { (e: Expr) throws(QueryError) -> Expr in try resolveSubqueries(e, named: named) }
        s.having = try s.having.map { (e: Expr) throws(QueryError) -> Expr in try resolveSubqueries(e, named: named) }
        for k in s.items.indices { s.items[k].expr = try s.items[k].expr.map { (e: Expr) throws(QueryError) -> Expr in try resolveSubqueries(e, named: named) } }
        let relation: Relation
        switch s.from {
        case .subquery(let inner, let alias): relation = .derived(alias, try execute(inner, named: named))
        case .table(let name, let offset):
            if let r = named[name] { relation = .derived(name, r) } else { relation = try Relation.table(name, offset: offset) }
        }
        let q = try Binder.bind(s, relation: relation, zone: timeZone, now: statementNow ?? Self.nowMs())
        if q.explain {
            let plan = try explain(q, relation)
            if let emit { emit.start(plan.columns); _ = emit.rows(plan.rows[...]) }
            return plan
        }
        return try run(q, relation, emit: emit)
    }

    /// Replaces each `x IN (SELECT …)` by `x IN (v1, v2, …)` with the subquery's values.
    func resolveSubqueries(_ e: Expr, named: [String: QueryResult]) throws(QueryError) -> Expr {
        func r(_ x: Expr) throws(QueryError) -> Expr { try resolveSubqueries(x, named: named) }
        switch e {
        case .inSubquery(let x, let statement, let negated, let offset):
            let result = try execute(statement, named: named)
            guard result.columns.count == 1 else {
                throw QueryError(.name, "the subquery of IN returns \(result.columns.count) columns; it must return one", offset: offset)
            }
            let type = result.columns[0].type
            let values: [Expr] = result.rows.map { row in
                switch row[0] {
                case .null: return .null
                case .double(let d): return .decimal(d)
                case .string(let s): return .string(s)
                case .interval(let x): return .typed(type: "interval", text: x.description, offset: offset)
                case .int(let i):
                    switch type {
                    case .timestamp: return .typed(type: "timestamptz", text: TimeMath.formatTimestamp(i), offset: offset)
                    case .date: return .typed(type: "date", text: TimeMath.formatDate(i), offset: offset)
                    case .boolean: return .boolean(i != 0)
                    default: return .integer(i)
                    }
                }
            }
            // An empty list matches nothing: x IN () is false, NOT IN () true.
            if values.isEmpty { return .boolean(negated) }
            return .inList(try r(x), values, negated: negated)
        case .unary(let op, let x): return .unary(op: op, try r(x))
        case .binary(let op, let a, let b, let o): return .binary(op: op, try r(a), try r(b), offset: o)
        case .isNull(let x, let n): return .isNull(try r(x), negated: n)
        case .between(let a, let b, let c, let n): return .between(try r(a), try r(b), try r(c), negated: n)
        case .caseWhen(let o, let br, let el):
            var branches = [(Expr, Expr)]()
            for (w, t) in br { branches.append((try r(w), try r(t))) }
            return .caseWhen(operand: try o.map { (x: Expr) throws(QueryError) -> Expr in try r(x) }, branches: branches,
                             otherwise: try el.map { (x: Expr) throws(QueryError) -> Expr in try r(x) })
        default: return e
        }
    }

    static func nowMs() -> Int64 { wallClockMilliseconds() }
    static func monotonic() -> Double { monotonicSeconds() }

    func run(_ q: BoundQuery, _ relation: Relation, emit: RowEmitter? = nil) throws(QueryError) -> QueryResult {
        var eval = Evaluator(nowMs: statementNow ?? Self.nowMs())
        eval.zone = timeZone
        let width = q.outputs.count
        let columns = zip(q.outputNames, q.outputs.map(\.type)).map { (name: $0, type: $1) }
        emit?.start(columns)
        // Several threads for what is merged afterwards (aggregates, ORDER BY); one for a
        // plain scan, whose rows come in the scan's order (and may stream).
        let parallel = threads > 1 && (q.isAggregate || !q.orderKeys.isEmpty) && relation.schema != nil
        eval.interrupt = QueryInterrupt(deadline: Self.monotonic() + timeoutSeconds, timeoutSeconds: timeoutSeconds, cancelled: isCancelled)
        let workers = (0..<(parallel ? threads : 1)).map { _ in
            ScanWorker(q: q, eval: eval, maxResultRows: maxResultRows,
                       maxGroups: maxGroups, maxDistinctValues: maxDistinctValues,
                       distinctBatching: distinctBatching, maxStreamedRows: maxStreamedRows, emit: parallel ? nil : emit)
        }
        let streamsRows = workers[0].streamsRows
        var stats = ScanStats()
        if let schema = relation.schema {
            do {
                stats = try source.scan(table: schema, columns: q.scanColumns, ranges: q.ranges, planOnly: false, threads: workers.count) { w, stored, n, selection in
                    try workers[w].consume(stored: stored, count: n, selection: selection)
                }
            } catch let e as QueryError {
                throw e
            } catch {
                throw QueryError(.unavailable, "\(error)", offset: nil)
            }
        } else if let r = relation.result {
            // A computed relation: its rows, as one batch of the columns the query reads.
            let indices = q.scanColumns.map { name in r.columns.firstIndex { $0.name == name }! }
            var cols = q.scanTypes.map { Vector(type: $0, count: r.rows.count) }
            for row in r.rows { for (k, i) in indices.enumerated() { cols[k].append(row[i]) } }
            try workers[0].consume(Batch(columns: cols, count: r.rows.count), filtered: false)
        }
        var aggregator = workers[0].aggregator
        try aggregator?.finish()
        for w in workers.dropFirst() { try aggregator?.merge(w.aggregator!) }
        var rows = workers.count == 1 ? workers[0].rows : workers.flatMap(\.rows)
        func sortRows(_ rows: inout [[Value]]) { ScanWorker.sort(&rows, q, width: width) }
        if let agg = aggregator {
            var post = try agg.result()
            if let h = q.having {
                let keep = try eval.eval(h, post)
                post = post.gather(ScanWorker.trueRows(keep, count: post.count))
            }
            var cols = [Vector]()
            for o in q.outputs { cols.append(try eval.eval(o, post)) }
            for o in q.orderKeys { cols.append(try eval.eval(o.expr, post)) }
            for i in 0..<post.count { rows.append(cols.map { $0.value(i) }) }
        }
        if !q.orderKeys.isEmpty { sortRows(&rows) }
        var out = rows.dropFirst(q.offset)
        if let limit = q.limit { out = out.prefix(limit) }
        guard out.count <= maxResultRows else {
            throw QueryError(.limit, "more than \(maxResultRows) result rows (add a LIMIT or aggregate)", offset: nil)
        }
        let answer = out.map { Array($0.prefix(width)) }
        if let emit, !streamsRows {
            var k = 0
            while k < answer.count {
                guard emit.rows(answer[k..<min(k + 4096, answer.count)]) else { break }
                k += 4096
            }
        }
        return QueryResult(columns: columns, rows: emit == nil ? answer : [], stats: stats, timeZone: timeZone)
    }

    /// EXPLAIN: the plan, then what the scan pruned and why (it runs the scan's pruning, not the query).
    func explain(_ q: BoundQuery, _ relation: Relation) throws(QueryError) -> QueryResult {
        var lines = [String]()
        if let l = q.limit { lines.append("LIMIT \(l)\(q.offset > 0 ? " OFFSET \(q.offset)" : "")") }
        if !q.orderKeys.isEmpty { lines.append("ORDER BY \(q.orderKeys.count) key(s)\(q.limit != nil ? " (top-N)" : "")") }
        lines.append("PROJECT \(q.outputNames.joined(separator: ", "))")
        if q.having != nil { lines.append("FILTER (HAVING)") }
        if q.isAggregate { lines.append("HASH AGGREGATE: \(q.groupKeys.count) key(s), \(q.aggregates.map(\.function.rawValue).joined(separator: ", "))") }
        if q.filter != nil { lines.append("FILTER (WHERE)") }
        let ranges = q.ranges.sorted { $0.key < $1.key }.map { r in
            r.value == Int64.min...Int64.max ? "\(r.key) not null" : "\(r.key) in [\(r.value.lowerBound), \(r.value.upperBound)]"
        }
        lines.append("SCAN \(q.table): columns \(q.scanColumns.joined(separator: ", "))\(ranges.isEmpty ? "" : "; prune by " + ranges.joined(separator: ", "))")
        guard let schema = relation.schema else {
            lines[lines.count - 1] = "SCAN \(q.table) (computed first: \(relation.result?.rows.count ?? 0) rows): columns \(q.scanColumns.joined(separator: ", "))"
            return QueryResult(columns: [("plan", .varchar)], rows: lines.map { [.string($0)] })
        }
        var stats = ScanStats()
        do {
            stats = try source.scan(table: schema, columns: q.scanColumns, ranges: q.ranges, planOnly: true, threads: 1) { _, _, _, _ in }
        } catch {
            throw QueryError(.unavailable, "\(error)", offset: nil)
        }
        lines.append("  hot tier: \(stats.hotRows) rows")
        lines.append("  cold tier: \(stats.segments) segment(s), \(stats.segmentsPruned) pruned by the catalog's ranges; \(stats.rowGroups) row group(s) read, \(stats.rowGroupsPruned) pruned by their statistics")
        lines += stats.notes.map { "  " + $0 }
        return QueryResult(columns: [("plan", .varchar)], rows: lines.map { [.string($0)] }, stats: stats)
    }
}

/// Where a streamed answer goes (`QueryEngine.stream`).
struct RowEmitter {
    let start: ([(name: String, type: SQLType)]) -> Void
    let rows: (ArraySlice<[Value]>) -> Bool
}
