/// An expression with names resolved and types known, evaluated over a `Batch`.
public indirect enum BoundExpr: Sendable {
    /// Column `index` of the input batch.
    case column(Int, SQLType)
    case constant(Value, SQLType)
    case arithmetic(op: String, BoundExpr, BoundExpr, SQLType)
    case compare(op: String, BoundExpr, BoundExpr)
    case and(BoundExpr, BoundExpr)
    case or(BoundExpr, BoundExpr)
    case not(BoundExpr)
    case negate(BoundExpr)
    case isNull(BoundExpr, negated: Bool)
    case inList(BoundExpr, [BoundExpr], negated: Bool)
    case like(BoundExpr, pattern: BoundExpr, caseInsensitive: Bool, negated: Bool)
    case caseWhen(branches: [(BoundExpr, BoundExpr)], otherwise: BoundExpr?, SQLType)
    case cast(BoundExpr, to: SQLType)
    case function(name: String, [BoundExpr], SQLType)

    /// The input columns the expression reads.
    public var columns: Set<Int> {
        switch self {
        case .column(let i, _): return [i]
        case .constant: return []
        case .arithmetic(_, let a, let b, _), .compare(_, let a, let b), .and(let a, let b), .or(let a, let b): return a.columns.union(b.columns)
        case .not(let a), .negate(let a), .isNull(let a, _), .cast(let a, _): return a.columns
        case .inList(let a, let l, _): return l.reduce(a.columns) { $0.union($1.columns) }
        case .like(let a, let p, _, _): return a.columns.union(p.columns)
        case .caseWhen(let br, let o, _): return br.reduce(o?.columns ?? []) { $0.union($1.0.columns).union($1.1.columns) }
        case .function(_, let args, _): return args.reduce([]) { $0.union($1.columns) }
        }
    }

    /// A constant string equal to `text` (a unit argument, once lowercased).
    func isConstant(_ text: String) -> Bool {
        if case .constant(.string(let s), _) = self { return s == text }
        return false
    }

    public var type: SQLType {
        switch self {
        case .column(_, let t), .constant(_, let t), .arithmetic(_, _, _, let t), .caseWhen(_, _, let t), .function(_, _, let t): return t
        case .cast(_, let t): return t
        case .negate(let e): return e.type
        case .compare, .and, .or, .not, .isNull, .inList, .like: return .boolean
        }
    }
}

/// An aggregate of the query: function, argument, DISTINCT, FILTER.
public struct BoundAggregate: Sendable {
    public enum Function: String, Sendable { case countStar = "count_star", count, sum, avg, min, max, median, quantileCont = "quantile_cont" }
    public var function: Function
    public var argument: BoundExpr?
    public var distinct: Bool
    public var filter: BoundExpr?
    /// quantile_cont's fraction (median: 0.5).
    public var fraction: Double = 0.5
    public var type: SQLType
}

/// A bound query: what to scan, filter, group, compute, sort and keep.
public struct BoundQuery: Sendable {
    public var table: String
    /// Table columns read, in batch order.
    public var scanColumns: [String]
    public var scanTypes: [SQLType]
    /// Ranges of integer columns that rows must fall in (from the WHERE clause): pruning hints.
    public var ranges: [String: ClosedRange<Int64>]
    public var filter: BoundExpr?
    /// Aggregate queries: group keys and aggregates over the scan batch; the outputs,
    /// HAVING and ORDER BY keys over the batch (group keys, then aggregates).
    public var isAggregate: Bool
    public var groupKeys: [BoundExpr]
    public var aggregates: [BoundAggregate]
    public var having: BoundExpr?
    public var outputs: [BoundExpr]
    public var outputNames: [String]
    public var orderKeys: [(expr: BoundExpr, descending: Bool, nullsFirst: Bool)]
    public var limit: Int?
    public var offset: Int
    public var explain: Bool
}
