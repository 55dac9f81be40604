/// The parsed query, before names are resolved (docs/sql.md lists what each node means).
public indirect enum Expr: Sendable, Equatable {
    case column(name: String, offset: Int)
    case integer(Int64)
    case decimal(Double)
    case string(String)
    case null
    case boolean(Bool)
    /// TIMESTAMP / TIMESTAMPTZ / DATE / INTERVAL 'text'.
    case typed(type: String, text: String, offset: Int)
    case unary(op: String, Expr)
    case binary(op: String, Expr, Expr, offset: Int)
    case isNull(Expr, negated: Bool)
    case inList(Expr, [Expr], negated: Bool)
    /// `x [NOT] IN (SELECT …)`: the query runs first, its one column becomes the list.
    case inSubquery(Expr, SelectStatement, negated: Bool, offset: Int)
    case between(Expr, Expr, Expr, negated: Bool)
    case like(Expr, Expr, caseInsensitive: Bool, negated: Bool)
    case caseWhen(operand: Expr?, branches: [(Expr, Expr)], otherwise: Expr?)
    case cast(Expr, type: String, offset: Int)
    /// A function or aggregate call; `star` for count(*).
    case call(name: String, args: [Expr], distinct: Bool, star: Bool, filter: Expr?, offset: Int)

    public static func == (a: Expr, b: Expr) -> Bool { a.key == b.key }

    /// A canonical text of the expression (structural equality, GROUP BY matching).
    public var key: String {
        switch self {
        case .column(let n, _): return "c:" + n.lowercased()
        case .integer(let v): return "i:\(v)"
        case .decimal(let v): return "d:\(v)"
        case .string(let s): return "s:'\(s)'"
        case .null: return "null"
        case .boolean(let v): return "b:\(v)"
        case .typed(let t, let s, _): return "\(t.lowercased()):'\(s)'"
        case .unary(let op, let e): return "(\(op) \(e.key))"
        case .binary(let op, let l, let r, _): return "(\(l.key) \(op.lowercased()) \(r.key))"
        case .isNull(let e, let n): return "(\(e.key) is \(n ? "not " : "")null)"
        case .inList(let e, let l, let n): return "(\(e.key) \(n ? "not " : "")in [\(l.map(\.key).joined(separator: ","))])"
        case .inSubquery(let e, _, let n, let o): return "(\(e.key) \(n ? "not " : "")in subquery@\(o))"
        case .between(let e, let lo, let hi, let n): return "(\(e.key) \(n ? "not " : "")between \(lo.key) and \(hi.key))"
        case .like(let e, let p, let ci, let n): return "(\(e.key) \(n ? "not " : "")\(ci ? "ilike" : "like") \(p.key))"
        case .caseWhen(let o, let br, let e):
            return "(case \(o?.key ?? "") \(br.map { "when \($0.0.key) then \($0.1.key)" }.joined(separator: " ")) else \(e?.key ?? "null"))"
        case .cast(let e, let t, _): return "cast(\(e.key) as \(t.lowercased()))"
        case .call(let n, let a, let d, let s, let f, _):
            return "\(n.lowercased())(\(d ? "distinct " : "")\(s ? "*" : a.map(\.key).joined(separator: ",")))\(f.map { " filter \($0.key)" } ?? "")"
        }
    }

    /// Where the expression starts in the text, when known.
    public var offset: Int? {
        switch self {
        case .column(_, let o), .typed(_, _, let o), .binary(_, _, _, let o), .cast(_, _, let o), .call(_, _, _, _, _, let o): return o
        case .unary(_, let e), .isNull(let e, _), .inList(let e, _, _), .between(let e, _, _, _), .like(let e, _, _, _): return e.offset
        case .inSubquery(_, _, _, let o): return o
        default: return nil
        }
    }
}

public struct SelectItem: Sendable {
    public var expr: Expr?      // nil for *
    public var alias: String?
    public var offset: Int
}

public struct OrderItem: Sendable {
    public var expr: Expr
    public var descending: Bool
    public var nullsFirst: Bool?
}

/// What FROM reads: a table (or a WITH name), or a subquery with its alias.
public indirect enum FromItem: Sendable {
    case table(String, offset: Int)
    case subquery(SelectStatement, alias: String)
}

public struct SelectStatement: Sendable {
    public var explain = false
    /// WITH name AS (query), …: each visible to the ones after it and to the main query.
    public var with: [(name: String, statement: SelectStatement)] = []
    public var items: [SelectItem] = []
    /// SELECT DISTINCT: one row per distinct select list (a GROUP BY over all of it).
    public var distinct = false
    public var from: FromItem = .table("", offset: 0)
    public var filter: Expr?
    public var groupBy: [Expr] = []
    public var having: Expr?
    public var orderBy: [OrderItem] = []
    public var limit: Int64?
    public var offset: Int64?
}

extension Expr {
    /// The expressions directly under this one (a subquery's own are its statement's).
    var children: [Expr] {
        switch self {
        case .column, .integer, .decimal, .string, .null, .boolean, .typed: return []
        case .unary(_, let e), .isNull(let e, _), .cast(let e, _, _), .inSubquery(let e, _, _, _): return [e]
        case .binary(_, let l, let r, _): return [l, r]
        case .inList(let e, let list, _): return [e] + list
        case .between(let e, let lo, let hi, _): return [e, lo, hi]
        case .like(let e, let p, _, _): return [e, p]
        case .caseWhen(let operand, let branches, let otherwise):
            return (operand.map { [$0] } ?? []) + branches.flatMap { [$0.0, $0.1] } + (otherwise.map { [$0] } ?? [])
        case .call(_, let args, _, _, let filter, _): return args + (filter.map { [$0] } ?? [])
        }
    }

    /// The depth of the tree (a leaf is 1), found with an explicit stack: safe to ask of a
    /// tree far deeper than the call stack would allow a recursive walk.
    public var height: Int {
        var stack: [(Expr, Int)] = [(self, 1)]
        var deepest = 0
        while let (e, d) = stack.popLast() {
            deepest = max(deepest, d)
            for c in e.children { stack.append((c, d + 1)) }
        }
        return deepest
    }
}
