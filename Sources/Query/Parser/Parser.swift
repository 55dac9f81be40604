/// Recursive-descent parser for Strata's SQL subset (docs/sql.md). Pure: text in, AST out.
public struct Parser {
    var tokens: [Token]
    var pos = 0
    var depth = 0
    /// Expressions being parsed that hold the current one (0: the next is a whole expression).
    var enclosingExpressions = 0
    /// The SELECTs being parsed, innermost last: what a qualifier (`t.id`) may name in each.
    var scopes: [QualifierScope] = []
    /// Whether the subquery being entered sits inside an expression (`IN (SELECT …)`), where a
    /// qualifier it cannot resolve might name an enclosing query's table: a correlation.
    var nextSubqueryInExpression = false

    public static func parse(_ sql: String) throws(QueryError) -> SelectStatement {
        var p = Parser(tokens: try Lexer.tokenize(sql))
        let s = try p.statement()
        if p.peek.isSymbol(";") { p.pos += 1 }
        guard p.peek.kind == .end else { throw p.error("unexpected '\(p.peek.text)' after the end of the query") }
        return s
    }

    var peek: Token { tokens[pos] }
    mutating func advance() -> Token { defer { pos += 1 }; return tokens[pos] }
    func error(_ m: String, at t: Token? = nil) -> QueryError { QueryError(.syntax, m, offset: (t ?? peek).offset) }

    mutating func accept(_ word: String) -> Bool {
        if peek.isWord(word) { pos += 1; return true }
        return false
    }
    mutating func acceptSymbol(_ s: String) -> Bool {
        if peek.isSymbol(s) { pos += 1; return true }
        return false
    }
    mutating func expect(_ word: String) throws(QueryError) {
        guard accept(word) else { throw error("expected \(word.uppercased()) but found '\(peek.text.isEmpty ? "end of query" : peek.text)'") }
    }
    mutating func expectSymbol(_ s: String) throws(QueryError) {
        guard acceptSymbol(s) else { throw error("expected '\(s)' but found '\(peek.text.isEmpty ? "end of query" : peek.text)'") }
    }

    static let reserved: Set<String> = ["select", "from", "where", "group", "by", "having", "order", "limit", "offset", "as", "and", "or",
                                        "not", "in", "is", "null", "between", "like", "ilike", "case", "when", "then", "else", "end",
                                        "asc", "desc", "nulls", "first", "last", "distinct", "filter", "on", "join", "union", "with",
                                        "cast", "true", "false", "interval", "explain"]

    mutating func statement() throws(QueryError) -> SelectStatement {
        let explain = accept("explain")
        var with = [(name: String, statement: SelectStatement)]()
        if accept("with") {
            if peek.isWord("recursive") { throw QueryError(.unsupported, "WITH RECURSIVE is not supported", offset: peek.offset) }
            repeat {
                let nameToken = peek
                let name = try self.name()
                guard !with.contains(where: { $0.name == name }) else { throw error("WITH name \(name) is used twice", at: nameToken) }
                try expect("as")
                try expectSymbol("(")
                with.append((name, try subquery()))
                try expectSymbol(")")
            } while acceptSymbol(",")
        }
        var s = try select(inExpression: false)
        s.explain = explain
        s.with = with
        return s
    }

    /// A query inside parentheses (the caller consumes them), with a depth limit.
    mutating func subquery() throws(QueryError) -> SelectStatement {
        depth += 1
        let enclosing = enclosingExpressions
        enclosingExpressions = 0  // its expressions are measured on their own
        defer { depth -= 1; enclosingExpressions = enclosing }
        guard depth <= 16 else { throw QueryError(.limit, "queries nested deeper than 16", offset: peek.offset) }
        if peek.isWord("with") { throw QueryError(.unsupported, "WITH inside a subquery is not supported; put it at the top", offset: peek.offset) }
        let inExpression = nextSubqueryInExpression
        nextSubqueryInExpression = false
        return try select(inExpression: inExpression)
    }

    mutating func select(inExpression: Bool) throws(QueryError) -> SelectStatement {
        scopes.append(QualifierScope(inExpression: inExpression))
        let s = try selectBody()
        try resolveQualifiers()
        return s
    }

    /// Checks the qualified column references of the SELECT just parsed (its FROM is known
    /// now): a qualifier must name its FROM item (the alias if it has one). One that names an
    /// enclosing query's table is a correlated subquery, refused until the engine supports
    /// it; any other is an unknown table. Never a silent change of meaning.
    mutating func resolveQualifiers() throws(QueryError) {
        let scope = scopes.removeLast()
        for ref in scope.references where !scope.names.contains(ref.qualifier) {
            if scope.inExpression, !scopes.isEmpty {
                scopes[scopes.count - 1].references.append(QualifierScope.Reference(qualifier: ref.qualifier, column: ref.column, offset: ref.offset, fromInner: true))
                continue
            }
            throw QueryError(.name, "'\(ref.qualifier).\(ref.column)': no table named \(ref.qualifier) in this query"
                             + (scope.names.isEmpty ? "" : " (FROM names it \(scope.names.joined(separator: " or ")))"), offset: ref.offset)
        }
        for ref in scope.references where ref.fromInner && scope.names.contains(ref.qualifier) {
            throw QueryError(.unsupported, "correlated subqueries are not supported: '\(ref.qualifier).\(ref.column)' inside the subquery refers to the outer query's table", offset: ref.offset)
        }
    }

    mutating func selectBody() throws(QueryError) -> SelectStatement {
        var s = SelectStatement()
        try expect("select")
        if accept("distinct") { s.distinct = true }
        repeat {
            let start = peek.offset
            if acceptSymbol("*") { s.items.append(SelectItem(expr: nil, alias: nil, offset: start)); continue }
            let e = try expression()
            var alias: String?
            if accept("as") { alias = try name() } else if (peek.kind == .word && !Self.reserved.contains(peek.lower)) || peek.kind == .quotedIdentifier { alias = try name() }
            s.items.append(SelectItem(expr: e, alias: alias, offset: start))
        } while acceptSymbol(",")
        try expect("from")
        if acceptSymbol("(") {
            let inner = try subquery()
            try expectSymbol(")")
            var alias = "subquery"
            if accept("as") || (peek.kind == .word && !Self.reserved.contains(peek.lower)) || peek.kind == .quotedIdentifier { alias = try name() }
            s.from = .subquery(inner, alias: alias)
            scopes[scopes.count - 1].names = [alias]
        } else {
            let offset = peek.offset
            let table = try name()
            if peek.isSymbol(".") {
                throw QueryError(.unsupported, "qualified table names (\(table).\(tokens[pos + 1].text)) are not supported: name the table alone, such as FROM tickets", offset: offset)
            }
            if peek.isSymbol("(") {
                throw QueryError(.unsupported, "table functions (\(table)(…)) are not supported: FROM takes a table (tickets, ticket_events, ticket_metrics), a WITH name or a subquery", offset: offset)
            }
            s.from = .table(table, offset: offset)
            scopes[scopes.count - 1].names = [table]
            if peek.kind == .word && !Self.reserved.contains(peek.lower) || peek.isWord("as") || peek.kind == .quotedIdentifier {
                _ = accept("as")
                // With an alias, columns are qualified by the alias alone (as in PostgreSQL and DuckDB).
                scopes[scopes.count - 1].names = [try name()]
            }
        }
        if peek.isSymbol(",") || peek.isWord("join") { throw QueryError(.unsupported, "joins are not supported: one table per query", offset: peek.offset) }
        if accept("where") { s.filter = try expression() }
        if accept("group") {
            try expect("by")
            repeat { s.groupBy.append(try expression()) } while acceptSymbol(",")
        }
        if accept("having") { s.having = try expression() }
        if accept("order") {
            try expect("by")
            repeat {
                let e = try expression()
                var item = OrderItem(expr: e, descending: false, nullsFirst: nil)
                if accept("desc") { item.descending = true } else { _ = accept("asc") }
                if accept("nulls") {
                    if accept("first") { item.nullsFirst = true } else { try expect("last"); item.nullsFirst = false }
                }
                s.orderBy.append(item)
            } while acceptSymbol(",")
        }
        if accept("limit") { s.limit = try count("LIMIT") }
        if accept("offset") { s.offset = try count("OFFSET") }
        if peek.isWord("union") { throw QueryError(.unsupported, "UNION is not supported", offset: peek.offset) }
        return s
    }

    mutating func count(_ what: String) throws(QueryError) -> Int64 {
        let t = advance()
        guard t.kind == .integer, let v = Int64(t.text), v >= 0 else { throw error("\(what) takes a non-negative integer", at: t) }
        return v
    }

    mutating func name() throws(QueryError) -> String {
        let t = advance()
        switch t.kind {
        case .word where !Self.reserved.contains(t.lower): return t.lower
        case .quotedIdentifier: return t.text
        default: throw error("expected a name but found '\(t.text.isEmpty ? "end of query" : t.text)'", at: t)
        }
    }

    // MARK: expressions, lowest precedence first

    /// One level deeper in the parser's own recursion (parentheses, calls, NOT, unary minus).
    mutating func descend() throws(QueryError) {
        depth += 1
        guard depth <= QueryLimits.maxExpressionDepth else {
            throw QueryError(.limit, "expression nested deeper than \(QueryLimits.maxExpressionDepth)", offset: peek.offset)
        }
    }

    /// An expression whose tree is at most `maxExpressionDepth` deep, whatever its shape:
    /// the parser's recursion counts parentheses, calls and prefix operators, and the height
    /// of a whole expression, left-deep chains (`a + b + c …`) included, is measured without
    /// recursion before anything walks it (binder, evaluator, printers).
    mutating func expression() throws(QueryError) -> Expr {
        let start = peek.offset
        try descend()
        enclosingExpressions += 1
        defer { depth -= 1; enclosingExpressions -= 1 }
        let e = try or()
        if enclosingExpressions == 1 {
            let h = e.height
            guard h <= QueryLimits.maxExpressionDepth else {
                throw QueryError(.limit, "expression nested \(h) deep, over the limit of \(QueryLimits.maxExpressionDepth) (each operator of a chain such as a + b + c is one level)", offset: start)
            }
        }
        return e
    }

    mutating func or() throws(QueryError) -> Expr {
        var terms = [try and()], offsets = [Int]()
        while peek.isWord("or") { offsets.append(advance().offset); terms.append(try and()) }
        return Self.chain("OR", terms, offsets)
    }

    mutating func and() throws(QueryError) -> Expr {
        var terms = [try not()], offsets = [Int]()
        while peek.isWord("and") { offsets.append(advance().offset); terms.append(try not()) }
        return Self.chain("AND", terms, offsets)
    }

    /// `a op b op c …` for an associative `op` (AND, OR): left-deep as written while short;
    /// a long chain (`id = 1 OR id = 2 OR …`, thousands of terms) becomes a balanced tree of
    /// the same meaning, so that its depth grows with the logarithm of its length.
    static func chain(_ op: String, _ terms: [Expr], _ offsets: [Int]) -> Expr {
        guard terms.count > 16 else {
            var l = terms[0]
            for k in 1..<terms.count { l = .binary(op: op, l, terms[k], offset: offsets[k - 1]) }
            return l
        }
        func build(_ lo: Int, _ hi: Int) -> Expr {  // terms[lo..<hi], depth log2(count)
            if hi - lo == 1 { return terms[lo] }
            let mid = (lo + hi) / 2
            return .binary(op: op, build(lo, mid), build(mid, hi), offset: offsets[mid - 1])
        }
        return build(0, terms.count)
    }

    mutating func not() throws(QueryError) -> Expr {
        if accept("not") {
            try descend()
            defer { depth -= 1 }
            return .unary(op: "NOT", try not())
        }
        return try predicate()
    }

    mutating func predicate() throws(QueryError) -> Expr {
        let l = try additive()
        if peek.kind == .symbol, ["=", "<>", "!=", "<", "<=", ">", ">="].contains(peek.text) {
            let t = advance()
            return .binary(op: t.text == "!=" ? "<>" : t.text, l, try additive(), offset: t.offset)
        }
        if accept("is") {
            let negated = accept("not")
            try expect("null")
            return .isNull(l, negated: negated)
        }
        let negated = accept("not")
        if accept("in") {
            try expectSymbol("(")
            if peek.isWord("select") {
                let at = peek.offset
                nextSubqueryInExpression = true
                let inner = try subquery()
                try expectSymbol(")")
                return .inSubquery(l, inner, negated: negated, offset: at)
            }
            var list = [Expr]()
            repeat { list.append(try expression()) } while acceptSymbol(",")
            try expectSymbol(")")
            return .inList(l, list, negated: negated)
        }
        if accept("between") {
            let lo = try additive()
            try expect("and")
            return .between(l, lo, try additive(), negated: negated)
        }
        if peek.isWord("like") || peek.isWord("ilike") {
            let ci = advance().isWord("ilike")
            return .like(l, try additive(), caseInsensitive: ci, negated: negated)
        }
        if negated { throw error("expected IN, BETWEEN, LIKE or ILIKE after NOT") }
        return l
    }

    mutating func additive() throws(QueryError) -> Expr {
        var l = try multiplicative()
        var links = 0
        while peek.isSymbol("+") || peek.isSymbol("-") || peek.isSymbol("||") {
            let t = advance()
            try link(&links, at: t)
            l = .binary(op: t.text, l, try multiplicative(), offset: t.offset)
        }
        return l
    }

    mutating func multiplicative() throws(QueryError) -> Expr {
        var l = try unary()
        var links = 0
        while peek.isSymbol("*") || peek.isSymbol("/") || peek.isSymbol("%") {
            let t = advance()
            try link(&links, at: t)
            l = .binary(op: t.text, l, try unary(), offset: t.offset)
        }
        return l
    }

    /// One more operator of a left-deep chain: refused as soon as the chain alone passes the
    /// depth limit, so that no tree deeper than a few limits is ever built (freeing one is a
    /// recursion too).
    func link(_ links: inout Int, at t: Token) throws(QueryError) {
        links += 1
        guard depth + links <= QueryLimits.maxExpressionDepth else {
            throw QueryError(.limit, "expression nested deeper than \(QueryLimits.maxExpressionDepth) (each operator of a chain such as a + b + c is one level)", offset: t.offset)
        }
    }

    mutating func unary() throws(QueryError) -> Expr {
        if peek.isSymbol("-") || peek.isSymbol("+") {
            try descend()
        } else {
            return try postfix()
        }
        defer { depth -= 1 }
        if acceptSymbol("-") {
            // -9223372036854775808 is the least BIGINT, though 9223372036854775808 alone is not one.
            if peek.kind == .integer, UInt64(peek.text) == UInt64(1) << 63, !tokens[pos + 1].isSymbol("::") {
                pos += 1
                return .integer(Int64.min)
            }
            let e = try unary()
            switch e {
            case .integer(let v) where v != Int64.min: return .integer(-v)  // - -9223372036854775808 overflows when run, as in DuckDB
            case .decimal(let v): return .decimal(-v)
            default: return .unary(op: "-", e)
            }
        }
        pos += 1  // unary plus
        return try unary()
    }

    /// A primary with its casts (`x::int::text`).
    mutating func postfix() throws(QueryError) -> Expr {
        var e = try primary()
        var links = 0
        while peek.isSymbol("::") {
            let t = advance()
            try link(&links, at: t)
            e = .cast(e, type: try typeName(), offset: t.offset)
        }
        return e
    }

    mutating func typeName() throws(QueryError) -> String {
        let t = advance()
        guard t.kind == .word else { throw error("expected a type name", at: t) }
        var name = t.lower
        if name == "double", accept("precision") { name = "double" }
        if name == "timestamp", peek.isWord("with") { pos += 1; try expect("time"); try expect("zone"); name = "timestamptz" }
        return name
    }

    /// Units that may follow `INTERVAL n` (the long names only: `INTERVAL '1 day' d` keeps `d` as an alias).
    static let intervalUnits: Set<String> = ["microsecond", "microseconds", "millisecond", "milliseconds", "second", "seconds",
                                             "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month",
                                             "months", "quarter", "quarters", "year", "years"]

    mutating func primary() throws(QueryError) -> Expr {
        let t = peek
        switch t.kind {
        case .integer:
            pos += 1
            guard let v = Int64(t.text) else {
                guard let d = Double(t.text) else { throw error("number out of range", at: t) }
                return .decimal(d)
            }
            return .integer(v)
        case .decimal:
            pos += 1
            return .decimal(Double(t.text)!)
        case .string:
            pos += 1
            return .string(t.text)
        case .quotedIdentifier:
            pos += 1
            return .column(name: t.text, offset: t.offset)
        case .symbol where t.text == "(":
            pos += 1
            if peek.isWord("select") { throw QueryError(.unsupported, "subqueries are not supported yet", offset: peek.offset) }
            let e = try expression()
            try expectSymbol(")")
            return e
        case .word:
            let w = t.lower
            switch w {
            case "null": pos += 1; return .null
            case "true": pos += 1; return .boolean(true)
            case "false": pos += 1; return .boolean(false)
            case "interval":
                // INTERVAL '2 days 3 hours', INTERVAL '2' DAY, INTERVAL 2 DAYS.
                let value = tokens[pos + 1]
                guard value.kind == .string || value.kind == .integer || value.kind == .decimal else {
                    throw error("INTERVAL takes a quoted text or a number and a unit, like INTERVAL '1 day' or INTERVAL 2 HOURS")
                }
                pos += 2
                var text = value.text
                if peek.kind == .word, Self.intervalUnits.contains(peek.lower) {
                    text += " " + advance().lower
                } else if value.kind != .string {
                    throw error("INTERVAL \(value.text) needs a unit, such as HOURS or DAYS")
                }
                return .typed(type: w, text: text, offset: t.offset)
            case "timestamp", "timestamptz", "date":
                if tokens[pos + 1].kind == .string {
                    pos += 2
                    return .typed(type: w, text: tokens[pos - 1].text, offset: t.offset)
                }
            case "case": pos += 1; return try caseExpression()
            case "extract" where tokens[pos + 1].isSymbol("("):
                // extract(part FROM ts) is date_part('part', ts).
                pos += 2
                let part = advance()
                guard part.kind == .word || part.kind == .string else { throw error("expected a date part such as year or hour", at: part) }
                try expect("from")
                let e = try expression()
                try expectSymbol(")")
                return .call(name: "date_part", args: [.string(part.text.lowercased()), e], distinct: false, star: false, filter: nil, offset: t.offset)
            case "cast":
                pos += 1
                try expectSymbol("(")
                let e = try expression()
                try expect("as")
                let type = try typeName()
                try expectSymbol(")")
                return .cast(e, type: type, offset: t.offset)
            default: break
            }
            if Self.reserved.contains(w) { throw error("unexpected \(t.text.uppercased())") }
            pos += 1
            if acceptSymbol("(") { return try call(t) }
            if peek.isSymbol(".") {  // table.column: checked against the FROM item once it is parsed
                pos += 1
                let c = advance()
                guard c.kind == .word || c.kind == .quotedIdentifier else { throw error("expected a column name after '.'", at: c) }
                if peek.isSymbol(".") { throw QueryError(.unsupported, "qualified names of three parts are not supported (use table.column)", offset: t.offset) }
                let column = c.kind == .word ? c.lower : c.text
                if !scopes.isEmpty {
                    scopes[scopes.count - 1].references.append(QualifierScope.Reference(qualifier: w, column: column, offset: t.offset, fromInner: false))
                }
                return .column(name: column, offset: c.offset)
            }
            return .column(name: w, offset: t.offset)
        case .end:
            throw error("unexpected end of query")
        default:
            throw error("unexpected '\(t.text)'")
        }
    }

    mutating func call(_ nameToken: Token) throws(QueryError) -> Expr {
        var args = [Expr](), distinct = false, star = false
        if acceptSymbol("*") { star = true } else if !peek.isSymbol(")") {
            distinct = accept("distinct")
            repeat { args.append(try expression()) } while acceptSymbol(",")
        }
        try expectSymbol(")")
        var filter: Expr?
        if accept("filter") {
            try expectSymbol("(")
            try expect("where")
            filter = try expression()
            try expectSymbol(")")
        }
        if peek.isWord("over") { throw QueryError(.unsupported, "window functions (OVER) are not supported", offset: peek.offset) }
        return .call(name: nameToken.lower, args: args, distinct: distinct, star: star, filter: filter, offset: nameToken.offset)
    }

    mutating func caseExpression() throws(QueryError) -> Expr {
        var operand: Expr?
        if !peek.isWord("when") { operand = try expression() }
        var branches = [(Expr, Expr)]()
        while accept("when") {
            let w = try expression()
            try expect("then")
            branches.append((w, try expression()))
        }
        guard !branches.isEmpty else { throw error("CASE needs at least one WHEN") }
        var otherwise: Expr?
        if accept("else") { otherwise = try expression() }
        try expect("end")
        return .caseWhen(operand: operand, branches: branches, otherwise: otherwise)
    }
}

/// What qualifiers one SELECT accepts, and the qualified references found in it.
struct QualifierScope {
    struct Reference {
        var qualifier: String
        var column: String
        var offset: Int
        /// Found in a subquery inside this SELECT's expressions, unresolved there.
        var fromInner: Bool
    }
    var inExpression: Bool
    /// The FROM item's name: its alias if it has one, else the table's (or WITH name's).
    var names: [String] = []
    var references: [Reference] = []
}
