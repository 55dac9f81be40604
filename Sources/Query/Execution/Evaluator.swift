#if canImport(Glibc)
import Glibc
#endif
import StrataCore

/// Evaluates bound expressions over a batch, a vector at a time. SQL's three-valued logic:
/// a null operand gives null, except AND/OR where the other side decides.
struct Evaluator {
    /// `now()` for the whole query (one value, as in DuckDB).
    let nowMs: Int64
    /// Day and week boundaries, date parts and text forms of timestamps follow this zone.
    var zone: TimeZoneRule = .utc
    /// Checked inside long evaluations (every 1,024 rows of LIKE), not only between batches.
    var interrupt = QueryInterrupt()

    func eval(_ e: BoundExpr, _ batch: Batch) throws(QueryError) -> Vector {
        let n = batch.count
        switch e {
        case .column(let i, _):
            return batch.columns[i]
        case .constant(let v, let t):
            return .constant(v, type: t, count: n)
        case .arithmetic(let op, let l, let r, let t):
            if t == .interval || t == .timestamp { return try temporal(op, try eval(l, batch), try eval(r, batch), t) }
            return try arithmetic(op, try eval(l, batch), try eval(r, batch), t)
        case .compare(let op, let l, .constant(let c, _)) where !c.isNull && l.type != .interval:
            return compare(op, try eval(l, batch), constant: c)
        case .compare(let op, let l, let r):
            return compare(op, try eval(l, batch), try eval(r, batch))
        case .and(let l, let r), .or(let l, let r):
            let isAnd: Bool = { if case .and = e { return true } else { return false } }()
            let a = try eval(l, batch), b = try eval(r, batch)
            // A NULL constant of another type has no ints: all null then.
            let x = a.ints.count == n ? a.ints : [Int64](repeating: 0, count: n)
            let y = b.ints.count == n ? b.ints : [Int64](repeating: 0, count: n)
            // Three-valued: for AND a known false decides, for OR a known true; else a null side makes null.
            var nulls = [Bool](repeating: false, count: n)
            let ints = [Int64](unsafeUninitializedCapacity: n) { out, initialized in
                x.withUnsafeBufferPointer { x in y.withUnsafeBufferPointer { y in
                    a.nulls.withUnsafeBufferPointer { an in b.nulls.withUnsafeBufferPointer { bn in
                        nulls.withUnsafeMutableBufferPointer { on in
                            // Bits, not branches: k = known (not null), t = true; for AND a
                            // known false decides (false), for OR a known true (true).
                            an.withMemoryRebound(to: UInt8.self) { an in bn.withMemoryRebound(to: UInt8.self) { bn in
                                let flip: UInt8 = isAnd ? 1 : 0
                                for i in 0..<n {
                                    let xk = an[i] ^ 1, yk = bn[i] ^ 1
                                    let xt: UInt8 = x[i] != 0 ? 1 : 0, yt: UInt8 = y[i] != 0 ? 1 : 0
                                    let decided = (xk & (xt ^ flip)) | (yk & (yt ^ flip))
                                    let null = (decided ^ 1) & ((xk & yk) ^ 1)
                                    on[i] = null != 0
                                    out[i] = Int64((decided ^ flip) & (null ^ 1))
                                }
                            } }
                        }
                    } }
                } }
                initialized = n
            }
            return Vector(type: .boolean, ints: ints, nulls: nulls)
        case .not(let x):
            var v = try eval(x, batch)
            v.type = .boolean
            if v.ints.count != n { return .constant(.null, type: .boolean, count: n) }
            for i in 0..<n where !v.nulls[i] { v.ints[i] = v.ints[i] == 0 ? 1 : 0 }
            return v
        case .negate(let x):
            var v = try eval(x, batch)
            if v.type == .interval {
                for i in 0..<n where !v.nulls[i] {
                    guard let neg = v.intervals[i].negated else { throw QueryError(.execution, "interval out of range in negation", offset: nil) }
                    v.intervals[i] = neg
                }
            } else if v.type == .double { for i in 0..<n { v.doubles[i] = -v.doubles[i] } } else {
                for i in 0..<n where !v.nulls[i] {
                    guard v.ints[i] != Int64.min else { throw QueryError(.execution, "integer overflow in negation", offset: nil) }
                    v.ints[i] = -v.ints[i]
                }
            }
            return v
        case .isNull(let x, let negated):
            let v = try eval(x, batch)
            let ints = [Int64](unsafeUninitializedCapacity: n) { out, initialized in
                v.nulls.withUnsafeBufferPointer { nulls in for i in 0..<n { out[i] = nulls[i] != negated ? 1 : 0 } }
                initialized = n
            }
            return Vector(type: .boolean, ints: ints, nulls: [Bool](repeating: false, count: n))
        case .inList(let x, let items, let negated):
            let v = try eval(x, batch)
            if items.allSatisfy({ if case .constant = $0 { return true } else { return false } }) {
                if v.type.usesInts || v.type == .varchar, items.count <= 8 {
                    // A short list of constants: compared in place, no Value per row.
                    var hasNull = false, ints = [Int64](), strings = [String]()
                    for case .constant(let c, _) in items {
                        switch c {
                        case .null: hasNull = true
                        case .int(let x): ints.append(x)
                        case .string(let x): strings.append(x)
                        default: break
                        }
                    }
                    var out = [Int64](repeating: 0, count: n), nulls = v.nulls
                    if let d = v.dictionary {
                        // Decided once per distinct word, then looked up by code.
                        let found = d.words.map { strings.contains($0) }
                        for i in 0..<n where !nulls[i] {
                            if found[Int(d.codes[i])] { out[i] = negated ? 0 : 1 } else if hasNull { nulls[i] = true } else { out[i] = negated ? 1 : 0 }
                        }
                        return Vector(type: .boolean, ints: out, nulls: nulls)
                    }
                    for i in 0..<n where !nulls[i] {
                        let found = v.type == .varchar ? strings.contains(v.string(i)) : ints.contains(v.ints[i])
                        if found { out[i] = negated ? 0 : 1 } else if hasNull { nulls[i] = true } else { out[i] = negated ? 1 : 0 }
                    }
                    return Vector(type: .boolean, ints: out, nulls: nulls)
                }
                // A long list of constants (IN (SELECT …)): one hash lookup per row.
                var set = Set<Value>(), hasNull = false
                for case .constant(let c, _) in items { if c.isNull { hasNull = true } else { set.insert(c) } }
                var out = Vector(type: .boolean, count: n)
                for i in 0..<n {
                    if v.nulls[i] { out.append(.null); continue }
                    if set.contains(v.value(i)) { out.append(.int(negated ? 0 : 1)) }
                    else if hasNull { out.append(.null) }
                    else { out.append(.int(negated ? 1 : 0)) }
                }
                return out
            }
            var acc: Vector? = nil
            for item in items {
                let c = compare("=", v, try eval(item, batch))
                if var a = acc {  // OR, three-valued
                    for i in 0..<n {
                        let p: Bool? = a.nulls[i] ? nil : a.ints[i] != 0, q: Bool? = c.nulls[i] ? nil : c.ints[i] != 0
                        let r: Bool? = (p == true || q == true) ? true : (p == nil || q == nil ? nil : false)
                        a.nulls[i] = r == nil
                        a.ints[i] = r == true ? 1 : 0
                    }
                    acc = a
                } else { acc = c }
            }
            var out = acc ?? .constant(.int(0), type: .boolean, count: n)
            if negated { for i in 0..<n where !out.nulls[i] { out.ints[i] = out.ints[i] == 0 ? 1 : 0 } }
            return out
        case .like(let x, let p, let ci, let negated):
            let v = try eval(x, batch), pv = try eval(p, batch)
            var out = Vector(type: .boolean, count: n)
            var cache: (String, LikePattern)?
            for i in 0..<n {
                if i & 1023 == 1023 { try interrupt.check() }
                if v.nulls[i] || pv.nulls[i] { out.append(.null); continue }
                let pattern: LikePattern
                if let c = cache, c.0 == pv.string(i) { pattern = c.1 } else {
                    pattern = LikePattern(pv.string(i), caseInsensitive: ci)
                    cache = (pv.string(i), pattern)
                }
                out.append(.int(pattern.matches(v.string(i)) != negated ? 1 : 0))
            }
            return out
        case .caseWhen(let branches, let otherwise, let t):
            var out = Vector(type: t, count: n)
            var conds = [Vector](), results = [Vector]()
            for (c, r) in branches { conds.append(try eval(c, batch)); results.append(try eval(r, batch)) }
            let other = try otherwise.map { (o: BoundExpr) throws(QueryError) -> Vector in try eval(o, batch) }
            // Which branch each row takes (-1: ELSE), then the values copied by kind.
            var chosen = [Int](repeating: -1, count: n)
            for (k, c) in conds.enumerated().reversed() where c.ints.count == n {
                // Later branches first, so that the first true condition has the last word.
                chosen.withUnsafeMutableBufferPointer { ch in c.ints.withUnsafeBufferPointer { ci in c.nulls.withUnsafeBufferPointer { cn in
                    for i in 0..<n where !cn[i] && ci[i] != 0 { ch[i] = k }
                } } }
            }
            let sources = results + (other.map { [$0] } ?? [])
            if t == .double || t.usesInts, let constants = Self.constantResults(branches, otherwise) {
                // Constant results (CASE WHEN … THEN 1.0 ELSE 0.0): each row takes its branch's value.
                let nullOf = constants.map { $0.isNull }, index = other == nil ? -1 : results.count
                var nulls = [Bool](repeating: true, count: n)
                let values: [Double] = constants.map { if case .double(let d) = $0 { return d }; if case .int(let i) = $0 { return Double(i) }; return 0 }
                let ints: [Int64] = constants.map { if case .int(let i) = $0 { return i }; if case .double(let d) = $0 { return Int64(exactly: d.rounded(.towardZero)) ?? 0 }; return 0 }  // ints are read only for an integer CASE
                chosen.withUnsafeBufferPointer { ch in nulls.withUnsafeMutableBufferPointer { on in
                    for i in 0..<n {
                        let k = ch[i] >= 0 ? ch[i] : index
                        on[i] = k < 0 || nullOf[k]
                    }
                    if t == .double {
                        out.doubles = [Double](unsafeUninitializedCapacity: n) { o, initialized in
                            for i in 0..<n { let k = ch[i] >= 0 ? ch[i] : index; o[i] = k < 0 ? 0 : values[k] }
                            initialized = n
                        }
                    } else {
                        out.ints = [Int64](unsafeUninitializedCapacity: n) { o, initialized in
                            for i in 0..<n { let k = ch[i] >= 0 ? ch[i] : index; o[i] = k < 0 ? 0 : ints[k] }
                            initialized = n
                        }
                    }
                } }
                out.nulls = nulls
                return out
            }
            if sources.allSatisfy({ $0.type == t && (t.usesInts ? $0.ints.count == n : (t == .double ? $0.doubles.count == n : false)) }) {
                let otherIndex = other == nil ? -2 : results.count
                var nulls = [Bool](repeating: true, count: n)
                if t.usesInts {
                    var ints = [Int64](repeating: 0, count: n)
                    for i in 0..<n {
                        let k = chosen[i] >= 0 ? chosen[i] : otherIndex
                        if k >= 0 && !sources[k].nulls[i] { ints[i] = sources[k].ints[i]; nulls[i] = false }
                    }
                    return Vector(type: t, ints: ints, nulls: nulls)
                }
                var doubles = [Double](repeating: 0, count: n)
                for i in 0..<n {
                    let k = chosen[i] >= 0 ? chosen[i] : otherIndex
                    if k >= 0 && !sources[k].nulls[i] { doubles[i] = sources[k].doubles[i]; nulls[i] = false }
                }
                out.doubles = doubles
                out.nulls = nulls
                return out
            }
            for i in 0..<n {
                var chosen: Value = other?.value(i) ?? .null
                for (k, c) in conds.enumerated() where !c.nulls[i] && c.ints[i] != 0 { chosen = results[k].value(i); break }
                out.append(chosen)
            }
            return out
        case .cast(let x, let t):
            return try cast(try eval(x, batch), to: t)
        case .function(let name, let args, let t):
            var vs = [Vector]()
            for a in args { vs.append(try eval(a, batch)) }
            return try function(name, vs, t, count: n)
        }
    }

    // MARK: operators

    /// Row by row: null where either side is (bytes OR-ed, no branch per row).
    static func eitherNull(_ a: [Bool], _ b: [Bool]) -> [Bool] {
        precondition(a.count == b.count)
        return [Bool](unsafeUninitializedCapacity: a.count) { out, initialized in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    a.withMemoryRebound(to: UInt8.self) { x in
                        b.withMemoryRebound(to: UInt8.self) { y in
                            out.withMemoryRebound(to: UInt8.self) { o in
                                for i in 0..<x.count { o[i] = x[i] | y[i] }
                            }
                        }
                    }
                }
            }
            initialized = a.count
        }
    }

    func arithmetic(_ op: String, _ a: Vector, _ b: Vector, _ t: SQLType) throws(QueryError) -> Vector {
        let n = a.count
        var out = Vector(type: t, count: n)
        if t == .double && op != "%" {
            // The common case, a loop over plain arrays: nulls are carried beside the values.
            let x = a.type == .double ? a.doubles : a.ints.map(Double.init)
            let y = b.type == .double ? b.doubles : b.ints.map(Double.init)
            precondition(x.count == n && y.count == n)
            let d = [Double](unsafeUninitializedCapacity: n) { d, initialized in
                x.withUnsafeBufferPointer { x in
                    y.withUnsafeBufferPointer { y in
                        switch op {
                        case "+": for i in 0..<n { d[i] = x[i] + y[i] }
                        case "-": for i in 0..<n { d[i] = x[i] - y[i] }
                        case "*": for i in 0..<n { d[i] = x[i] * y[i] }
                        default: for i in 0..<n { d[i] = x[i] / y[i] }  // IEEE: ±inf or nan at zero, as DuckDB
                        }
                    }
                }
                initialized = n
            }
            out.doubles = d
            out.nulls = Self.eitherNull(a.nulls, b.nulls)
            return out
        }
        if t == .double {
            let x = a.type == .double ? a.doubles : a.ints.map(Double.init)
            let y = b.type == .double ? b.doubles : b.ints.map(Double.init)
            for i in 0..<n {
                if a.nulls[i] || b.nulls[i] { out.append(.null); continue }
                switch op {
                case "+": out.append(.double(x[i] + y[i]))
                case "-": out.append(.double(x[i] - y[i]))
                case "*": out.append(.double(x[i] * y[i]))
                case "/": out.append(.double(x[i] / y[i]))  // IEEE: ±inf or nan at zero, as DuckDB
                default:
                    guard y[i] != 0 else { throw QueryError(.execution, "division by zero in \(Formatter.double(x[i])) % 0", offset: nil) }
                    out.append(.double(fmod(x[i], y[i])))
                }
            }
            return out
        }
        if op != "%" {
            let nulls = Self.eitherNull(a.nulls, b.nulls)
            var overflow = false
            let r = [Int64](unsafeUninitializedCapacity: n) { r, initialized in
                precondition(a.ints.count == n && b.ints.count == n && nulls.count == n)
                a.ints.withUnsafeBufferPointer { x in
                    b.ints.withUnsafeBufferPointer { y in
                        nulls.withUnsafeBufferPointer { nulls in
                            // An overflow counts where neither side is null; no branch per row.
                            nulls.withMemoryRebound(to: UInt8.self) { isNull in
                                var any: UInt8 = 0
                                switch op {
                                case "+": for i in 0..<n { let (v, o) = x[i].addingReportingOverflow(y[i]); r[i] = v; any |= UInt8(o ? 1 : 0) & ~isNull[i] }
                                case "-": for i in 0..<n { let (v, o) = x[i].subtractingReportingOverflow(y[i]); r[i] = v; any |= UInt8(o ? 1 : 0) & ~isNull[i] }
                                default: for i in 0..<n { let (v, o) = x[i].multipliedReportingOverflow(by: y[i]); r[i] = v; any |= UInt8(o ? 1 : 0) & ~isNull[i] }
                                }
                                overflow = any & 1 != 0
                            }
                        }
                    }
                }
                initialized = n
            }
            if !overflow { return Vector(type: t, ints: r, nulls: nulls) }
            // Overflow somewhere: the row by row path below names the values.
        }
        for i in 0..<n {
            if a.nulls[i] || b.nulls[i] { out.append(.null); continue }
            let x = a.ints[i], y = b.ints[i]
            let r: (Int64, Bool)
            switch op {
            case "+": r = x.addingReportingOverflow(y)
            case "-": r = x.subtractingReportingOverflow(y)
            case "*": r = x.multipliedReportingOverflow(by: y)
            default:
                guard y != 0 else { throw QueryError(.execution, "division by zero in \(x) % 0", offset: nil) }
                r = x.remainderReportingOverflow(dividingBy: y)
            }
            guard !r.1 else { throw QueryError(.execution, "integer overflow in \(x) \(op) \(y) (BIGINT)", offset: nil) }
            out.append(.int(r.0))
        }
        return out
    }

    func compare(_ op: String, _ a: Vector, _ b: Vector) -> Vector {
        let n = a.count
        if a.type.usesInts {
            // The common case, integers and times: one loop, no per-row dispatch on the kind.
            var r = [Int64](repeating: 0, count: n)
            let x = a.ints, y = b.ints
            switch op {
            case "=": for i in 0..<n { r[i] = x[i] == y[i] ? 1 : 0 }
            case "<>": for i in 0..<n { r[i] = x[i] != y[i] ? 1 : 0 }
            case "<": for i in 0..<n { r[i] = x[i] < y[i] ? 1 : 0 }
            case "<=": for i in 0..<n { r[i] = x[i] <= y[i] ? 1 : 0 }
            case ">": for i in 0..<n { r[i] = x[i] > y[i] ? 1 : 0 }
            default: for i in 0..<n { r[i] = x[i] >= y[i] ? 1 : 0 }
            }
            return Vector(type: .boolean, ints: r, nulls: Self.eitherNull(a.nulls, b.nulls))
        }
        var out = Vector(type: .boolean, count: n)
        for i in 0..<n {
            if a.nulls[i] || b.nulls[i] { out.append(.null); continue }
            let c: Int
            switch a.type {
            case .double: c = a.doubles[i] < b.doubles[i] ? -1 : (a.doubles[i] > b.doubles[i] ? 1 : 0)
            case .varchar: c = a.string(i) < b.string(i) ? -1 : (a.string(i) == b.string(i) ? 0 : 1)
            case .interval: c = a.intervals[i] < b.intervals[i] ? -1 : (a.intervals[i] == b.intervals[i] ? 0 : 1)
            default: c = a.ints[i] < b.ints[i] ? -1 : (a.ints[i] > b.ints[i] ? 1 : 0)
            }
            let v: Bool
            switch op {
            case "=": v = c == 0
            case "<>": v = c != 0
            case "<": v = c < 0
            case "<=": v = c <= 0
            case ">": v = c > 0
            default: v = c >= 0
            }
            out.append(.int(v ? 1 : 0))
        }
        return out
    }

    /// A column against one constant (not null): the common WHERE term, without a vector of
    /// the constant.
    func compare(_ op: String, _ a: Vector, constant c: Value) -> Vector {
        let n = a.count
        var r = [Int64](repeating: 0, count: n)
        @inline(__always) func fill<T: Comparable>(_ x: [T], _ y: T) {
            switch op {
            case "=": for i in 0..<n { r[i] = x[i] == y ? 1 : 0 }
            case "<>": for i in 0..<n { r[i] = x[i] != y ? 1 : 0 }
            case "<": for i in 0..<n { r[i] = x[i] < y ? 1 : 0 }
            case "<=": for i in 0..<n { r[i] = x[i] <= y ? 1 : 0 }
            case ">": for i in 0..<n { r[i] = x[i] > y ? 1 : 0 }
            default: for i in 0..<n { r[i] = x[i] >= y ? 1 : 0 }
            }
        }
        switch (a.type, c) {
        case (.double, .double(let y)): fill(a.doubles, y)
        case (.double, .int(let y)): fill(a.doubles, Double(y))
        case (.varchar, .string(let y)):
            if let d = a.dictionary {
                // Each distinct word compared once; rows take their word's answer.
                var perWord = [Int64](repeating: 0, count: d.words.count)
                for (k, w) in d.words.enumerated() {
                    let c = w < y ? -1 : (w == y ? 0 : 1)
                    switch op {
                    case "=": perWord[k] = c == 0 ? 1 : 0
                    case "<>": perWord[k] = c != 0 ? 1 : 0
                    case "<": perWord[k] = c < 0 ? 1 : 0
                    case "<=": perWord[k] = c <= 0 ? 1 : 0
                    case ">": perWord[k] = c > 0 ? 1 : 0
                    default: perWord[k] = c >= 0 ? 1 : 0
                    }
                }
                for i in 0..<n where !a.nulls[i] { r[i] = perWord[Int(d.codes[i])] }
            } else {
                fill(a.allStrings, y)
            }
        case (let t, .int(let y)) where t.usesInts: fill(a.ints, y)
        default: return compare(op, a, Vector.constant(c, type: a.type, count: n))
        }
        return Vector(type: .boolean, ints: r, nulls: a.nulls)
    }

    /// date_trunc in UTC for units of fixed length, every row at once.
    static func truncateUTC(_ unit: TimeMath.Unit, _ x: [Int64], into out: inout [Int64]) {
        precondition(x.count == out.count)
        let n = x.count, day = TimeMath.msPerDay
        x.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { out in
                switch unit {
                // floorDiv cannot trap for a positive divisor; the products wrap, since a
                // null row's slot may hold any value.
                case .hour: for i in 0..<n { out[i] = TimeMath.floorDiv(x[i], 3_600_000) &* 3_600_000 }
                case .day: for i in 0..<n { out[i] = TimeMath.floorDiv(x[i], day) &* day }
                default: for i in 0..<n { out[i] = TimeMath.mondayOnOrBefore(TimeMath.floorDiv(x[i], day)) &* day }  // .week
                }
            }
        }
    }

    func cast(_ v: Vector, to t: SQLType) throws(QueryError) -> Vector {
        if v.type == t { return v }
        let n = v.count
        switch (v.type, t) {
        case (.timestamp, .date):
            var days = [Int64](repeating: 0, count: n)
            if zone.fixedOffset == 0 {
                precondition(v.ints.count == n)
                v.ints.withUnsafeBufferPointer { x in
                    days.withUnsafeMutableBufferPointer { d in for i in 0..<n { d[i] = TimeMath.floorDiv(x[i], TimeMath.msPerDay) } }
                }
            } else {
                for i in 0..<n where !v.nulls[i] { days[i] = TimeMath.floorDiv(zone.toLocal(v.ints[i]), TimeMath.msPerDay) }
            }
            return Vector(type: t, ints: days, nulls: v.nulls)
        case (.bigint, .double):
            var out = Vector(type: .double, count: 0)
            out.doubles = v.ints.map(Double.init)
            out.nulls = v.nulls
            return out
        default: break
        }
        var out = Vector(type: t, count: v.count)
        for i in 0..<v.count {
            if v.nulls[i] { out.append(.null); continue }
            switch (v.type, t) {
            case (.timestamp, .date): out.append(.int(TimeMath.floorDiv(zone.toLocal(v.ints[i]), TimeMath.msPerDay)))
            case (.date, .timestamp): out.append(.int(zone.toUTC(v.ints[i] * TimeMath.msPerDay)))
            case (.bigint, .double), (.boolean, .bigint), (.bigint, .boolean): out.append(.int(t == .boolean ? (v.ints[i] != 0 ? 1 : 0) : v.ints[i]))
            case (.double, .bigint):
                let d = v.doubles[i].rounded(.toNearestOrEven)
                guard let x = Int64(exactly: d) else { throw QueryError(.execution, "\(v.doubles[i]) is out of range for BIGINT", offset: nil) }
                out.append(.int(x))
            case (_, .varchar): out.append(.string(Formatter.text(v.value(i), v.type, zone: zone)))
            case (.varchar, .bigint):
                guard let x = Int64(v.string(i).trimmingSpaces) else { throw QueryError(.execution, "could not convert '\(v.string(i))' to BIGINT", offset: nil) }
                out.append(.int(x))
            case (.varchar, .double):
                guard let x = Double(v.string(i).trimmingSpaces) else { throw QueryError(.execution, "could not convert '\(v.string(i))' to DOUBLE", offset: nil) }
                out.append(.double(x))
            case (.varchar, .timestamp):
                guard let x = TimeMath.parseTimestamp(v.string(i), zone: zone) else { throw QueryError(.execution, "could not convert '\(v.string(i))' to a timestamp", offset: nil) }
                out.append(.int(x))
            case (.varchar, .date):
                guard let x = TimeMath.parseDate(v.string(i)) else { throw QueryError(.execution, "could not convert '\(v.string(i))' to DATE", offset: nil) }
                out.append(.int(x))
            case (.varchar, .interval):
                guard let x = Interval.parse(v.string(i)) else { throw QueryError(.execution, "could not convert '\(v.string(i))' to INTERVAL", offset: nil) }
                out.append(.interval(x))
            default: throw QueryError(.type, "cannot cast \(v.type.sqlName) to \(t.sqlName)", offset: nil)
            }
        }
        return out
    }

    /// The THEN and ELSE values of a CASE whose results are all constants (a missing ELSE is NULL).
    static func constantResults(_ branches: [(BoundExpr, BoundExpr)], _ otherwise: BoundExpr?) -> [Value]? {
        var out = [Value]()
        for r in branches.map(\.1) + (otherwise.map { [$0] } ?? []) {
            guard case .constant(let v, _) = r else { return nil }
            out.append(v)
        }
        return out
    }

    func function(_ name: String, _ a: [Vector], _ t: SQLType, count n: Int) throws(QueryError) -> Vector {
        var out = Vector(type: t, count: n)
        if name == "date_trunc" || name == "time_bucket" || (name == "date_part" && a[1].type == .timestamp && (a[0].count == 0 || a[0].string(0) != "epoch")) {
            // Integers in, integers out: one loop without boxing each value.
            let isTrunc = name == "date_trunc", isBucket = name == "time_bucket"
            let unitName = isBucket || a[0].count == 0 ? "" : a[0].string(0)
            let x = a[1].ints
            var ints = [Int64](repeating: 0, count: n), nulls = a[1].nulls
            if !isBucket && a[0].nulls.first != false { return .constant(.null, type: t, count: n) }
            if isBucket {
                for i in 0..<n where !nulls[i] {
                    if a[0].nulls[i] { nulls[i] = true; continue }
                    let origin: Int64 = 946_857_600_000  // 2000-01-03 00:00:00+00, a Monday (DuckDB's default)
                    ints[i] = origin + TimeMath.floorDiv(x[i] - origin, a[0].ints[i]) * a[0].ints[i]
                }
            } else if isTrunc {
                // The unit is one constant: named once, not per row. Units of a day and more
                // start at local midnight; smaller ones are the same in every whole-hour zone.
                guard let unit = TimeMath.Unit(truncating: unitName) else { return .constant(.null, type: t, count: n) }
                if zone.fixedOffset == 0, unit == .day || unit == .week || unit == .hour {
                    // UTC, a unit of fixed length: one loop over every row, no call per value
                    // (rows that are null get a value nobody reads; wrapping keeps it harmless).
                    Self.truncateUTC(unit, x, into: &ints)
                } else {
                    for i in 0..<n where !nulls[i] {
                        if let v = TimeMath.truncate(unit, zone.toLocal(x[i])) { ints[i] = zone.toUTC(v) } else { nulls[i] = true }
                    }
                }
            } else {
                guard let unit = TimeMath.Unit(part: unitName) else { return .constant(.null, type: t, count: n) }
                for i in 0..<n where !nulls[i] {
                    if let v = TimeMath.part(unit, zone.toLocal(x[i])) { ints[i] = v } else { nulls[i] = true }
                }
            }
            return Vector(type: t, ints: ints, nulls: nulls)
        }
        switch name {
        case "now":
            return .constant(.int(nowMs), type: .timestamp, count: n)
        case "epoch_ms":
            var v = a[0]
            v.type = .bigint  // the same milliseconds, as a number
            return v
        case "epoch_ms_to_timestamp":
            var v = a[0]
            for i in 0..<n where !v.nulls[i] && !(Timestamp.minMs...Timestamp.maxMs).contains(v.ints[i]) {
                throw QueryError(.execution, "epoch_ms(\(v.ints[i])) is outside the timestamps Strata holds (years 1 to 9999)", offset: nil)
            }
            v.type = .timestamp
            return v
        case "coalesce":
            for i in 0..<n { out.append(a.first { !$0.nulls[i] }?.value(i) ?? .null) }
        case "nullif":
            let eq = compare("=", a[0], a[1].type == a[0].type ? a[1] : try cast(a[1], to: a[0].type))
            for i in 0..<n { out.append(!eq.nulls[i] && eq.ints[i] == 1 ? .null : a[0].value(i)) }
        default:
            for i in 0..<n {
                if a.contains(where: { $0.nulls[i] }) { out.append(.null); continue }
                out.append(try scalar(name, a, i))
            }
        }
        return out
    }

    func scalar(_ name: String, _ a: [Vector], _ i: Int) throws(QueryError) -> Value {
        switch name {
        case "epoch_ms": return .int(a[0].ints[i])
        case "epoch_ms_to_timestamp": return .int(a[0].ints[i])
        case "date_part":
            let unit = a[0].string(i)
            if a[1].type == .interval { return Self.part(unit, of: a[1].intervals[i]) }
            if unit == "epoch" { return .double(Double(a[1].ints[i]) / 1000) }
            return TimeMath.part(unit, zone.toLocal(a[1].ints[i])).map(Value.int) ?? .null
        case "epoch":
            if a[0].type == .interval { return .double(a[0].intervals[i].epochSeconds) }
            return .double(Double(a[0].ints[i]) / 1000)
        case "to_interval":
            // to_seconds(n) and friends: a[1] is the unit's size, (months, days, micros) as a constant interval.
            let unit = a[1].intervals[i]
            let iv = a[0].type == .double ? unit.times(a[0].doubles[i]) : unit.times(a[0].ints[i])
            guard let iv else { throw QueryError(.execution, "interval out of range", offset: nil) }
            return .interval(iv)
        case "date_diff":
            let unit = a[0].string(i), x = zone.toLocal(a[1].ints[i]), y = zone.toLocal(a[2].ints[i])
            switch unit {
            case "month", "months", "quarter", "quarters", "year", "years":
                let c1 = TimeMath.civil(TimeMath.floorDiv(x, TimeMath.msPerDay)), c2 = TimeMath.civil(TimeMath.floorDiv(y, TimeMath.msPerDay))
                let months = (c2.year * 12 + c2.month) - (c1.year * 12 + c1.month)
                if unit.hasPrefix("month") { return .int(months) }
                if unit.hasPrefix("year") { return .int(c2.year - c1.year) }
                return .int((c2.year * 4 + (c2.month - 1) / 3) - (c1.year * 4 + (c1.month - 1) / 3))
            case "week", "weeks":
                // DuckDB: whole weeks of the day difference, toward zero (not Monday boundaries).
                let days = TimeMath.floorDiv(y, TimeMath.msPerDay) - TimeMath.floorDiv(x, TimeMath.msPerDay)
                return .int(days / 7)
            default:
                guard let tx = TimeMath.truncate(unit, x), let ty = TimeMath.truncate(unit, y) else { return .null }
                let size: Int64 = ["millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000, "day": 86_400_000
                                  ][unit.hasSuffix("s") ? String(unit.dropLast()) : unit] ?? 1
                return .int((ty - tx) / size)
            }
        case "abs":
            if a[0].type == .double { return .double(Swift.abs(a[0].doubles[i])) }
            guard a[0].ints[i] != Int64.min else { throw QueryError(.execution, "integer overflow in abs", offset: nil) }
            return .int(Swift.abs(a[0].ints[i]))
        case "round":
            let digits = a.count > 1 ? a[1].ints[i] : 0
            if a[0].type != .double {
                guard let r = Rounding.integer(a[0].ints[i], digits: digits) else {
                    throw QueryError(.execution, "integer overflow in round(\(a[0].ints[i]), \(digits))", offset: nil)
                }
                return .int(r)
            }
            return .double(Rounding.double(a[0].doubles[i], digits: digits))
        case "floor": return a[0].type == .double ? .double(a[0].doubles[i].rounded(.down)) : .int(a[0].ints[i])
        case "ceil": return a[0].type == .double ? .double(a[0].doubles[i].rounded(.up)) : .int(a[0].ints[i])
        case "lower": return .string(CaseMapping.lower(a[0].string(i)))
        case "upper": return .string(CaseMapping.upper(a[0].string(i)))
        case "exact_double":
            let v = a[0].ints[i]
            guard v.magnitude <= 1 << 53 else {
                throw QueryError(.execution, "\(v) cannot be held exactly as a DOUBLE, and Strata computes a BIGINT with a literal such as 2.0 in DOUBLE "
                                 + "(DuckDB: DECIMAL); write the literal as an integer, or CAST the value AS DOUBLE to accept rounding", offset: nil)
            }
            return .double(Double(v))
        case "length": return .int(Int64(a[0].string(i).unicodeScalars.count))  // code points, as DuckDB counts
        case "concat": return .string(a[0].string(i) + a[1].string(i))
        default: throw QueryError(.unsupported, "unknown function \(name)", offset: nil)
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

extension Evaluator {
    /// Arithmetic with a TIMESTAMP or INTERVAL result (the binder's `temporalArithmetic`
    /// decided the types): ts − ts, ts ± interval, interval ± interval, interval × ÷ number.
    func temporal(_ op: String, _ a: Vector, _ b: Vector, _ t: SQLType) throws(QueryError) -> Vector {
        let n = a.count
        var out = Vector(type: t, count: n)
        for i in 0..<n {
            if a.nulls[i] || b.nulls[i] { out.append(.null); continue }
            let r: Value?
            switch (a.type, b.type) {
            case (.timestamp, .timestamp):
                r = TimeMath.difference(a.ints[i], b.ints[i], zone: zone).map(Value.interval)
            case (.timestamp, .interval):
                let iv = op == "-" ? b.intervals[i].negated : b.intervals[i]
                r = iv.flatMap { TimeMath.add($0, to: a.ints[i], zone: zone) }.map(Value.int)
            case (.interval, .interval):
                let rhs = op == "-" ? b.intervals[i].negated : b.intervals[i]
                r = rhs.flatMap { a.intervals[i] + $0 }.map(Value.interval)
            case (.interval, .bigint), (.interval, .double):
                let x = b.type == .double ? b.doubles[i] : Double(b.ints[i])
                if op == "/" {
                    guard x != 0 else { throw QueryError(.execution, "division by zero in \(a.intervals[i]) / 0", offset: nil) }
                    r = a.intervals[i].times(1 / x).map(Value.interval)
                } else if b.type == .bigint {
                    r = a.intervals[i].times(b.ints[i]).map(Value.interval)
                } else {
                    r = a.intervals[i].times(x).map(Value.interval)
                }
            default:
                throw QueryError(.execution, "no \(op) for \(a.type.sqlName) and \(b.type.sqlName)", offset: nil)
            }
            guard let r else {
                throw QueryError(.execution, "\(t.sqlName) out of range in \(Formatter.text(a.value(i), a.type, zone: zone)) \(op) \(Formatter.text(b.value(i), b.type, zone: zone))", offset: nil)
            }
            out.append(r)
        }
        return out
    }

    /// date_part of an INTERVAL, as DuckDB takes it apart: years and months from the months,
    /// days from the days, the clock parts from the microseconds (`36 hours` has hour 36, day 0).
    static func part(_ unit: String, of iv: Interval) -> Value {
        let us = iv.micros
        switch unit {
        case "year": return .int(Int64(iv.months) / 12)
        case "quarter": return .int(Int64(iv.months) % 12 / 3 + 1)
        case "month": return .int(Int64(iv.months) % 12)
        case "day": return .int(Int64(iv.days))
        case "hour": return .int(us / 3_600_000_000)
        case "minute": return .int(us % 3_600_000_000 / 60_000_000)
        case "second": return .int(us % 60_000_000 / 1_000_000)
        case "millisecond", "milliseconds": return .int(us % 60_000_000 / 1000)
        case "microsecond", "microseconds": return .int(us % 60_000_000)
        case "epoch": return .double(iv.epochSeconds)
        default: return .null  // the binder refuses other parts
        }
    }
}
