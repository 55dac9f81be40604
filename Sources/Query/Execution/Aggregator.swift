/// Hash aggregation: one state per (group, aggregate), groups in first-seen order.
struct Aggregator {
    enum State {
        case count(Int64)
        case sumInt(Int64, seen: Bool)
        case sumDouble(Double, seen: Bool)
        case avg(Double, Int64)
        case extreme(Value)
        case distinct(Set<Value>)
        case values([Double])
    }

    let aggregates: [BoundAggregate]
    let keyTypes: [SQLType]
    let maxGroups: Int
    var index = [[Value]: Int]()
    var single = [Value: Int]()
    var keys = [[Value]]()
    var states = [[State]]()

    init(aggregates: [BoundAggregate], keyTypes: [SQLType], maxGroups: Int) {
        self.aggregates = aggregates
        self.keyTypes = keyTypes
        self.maxGroups = maxGroups
        if keyTypes.isEmpty { _ = group([]) }  // no GROUP BY: one group, even over no rows
    }

    func initial(_ a: BoundAggregate) -> State {
        if a.distinct { return .distinct([]) }
        switch a.function {
        case .countStar, .count: return .count(0)
        case .sum: return a.type == .double ? .sumDouble(0, seen: false) : .sumInt(0, seen: false)
        case .avg: return .avg(0, 0)
        case .min, .max: return .extreme(.null)
        case .median, .quantileCont: return .values([])
        }
    }

    mutating func group(_ key: [Value]) -> Int {
        if let g = index[key] { return g }
        index[key] = keys.count
        keys.append(key)
        states.append(aggregates.map(initial))
        return keys.count - 1
    }

    /// Adds one batch: its group-key vectors, each aggregate's argument and filter vectors.
    mutating func add(count n: Int, keys keyVectors: [Vector], arguments: [Vector?], filters: [Vector?]) throws(QueryError) {
        var groupOf = [Int](repeating: 0, count: n)
        if keyVectors.count == 1 {
            // One key: look groups up by the value itself, no key array per row.
            let v = keyVectors[0]
            for i in 0..<n {
                let value = v.value(i)
                if let g = single[value] { groupOf[i] = g; continue }
                let g = group([value])
                single[value] = g
                groupOf[i] = g
            }
            guard keys.count <= maxGroups else {
                throw QueryError(.limit, "more than \(maxGroups) groups: the hash table limit (narrow the GROUP BY or add a WHERE)", offset: nil)
            }
        } else if !keyVectors.isEmpty {
            var key = [Value](repeating: .null, count: keyVectors.count)
            for i in 0..<n {
                for (k, v) in keyVectors.enumerated() { key[k] = v.value(i) }
                groupOf[i] = group(key)
            }
            guard keys.count <= maxGroups else {
                throw QueryError(.limit, "more than \(maxGroups) groups: the hash table limit (narrow the GROUP BY or add a WHERE)", offset: nil)
            }
        }
        for (k, a) in aggregates.enumerated() {
            let arg = arguments[k], filter = filters[k]
            for i in 0..<n {
                if let filter, filter.nulls[i] || filter.ints[i] == 0 { continue }
                let g = groupOf[i]
                if a.function == .countStar {
                    if case .count(let c) = states[g][k] { states[g][k] = .count(c + 1) }
                    continue
                }
                guard let arg, !arg.nulls[i] else { continue }
                switch states[g][k] {
                case .count(let c): states[g][k] = .count(c + 1)
                case .sumInt(let s, _):
                    let (r, o) = s.addingReportingOverflow(arg.ints[i])
                    guard !o else { throw QueryError(.execution, "integer overflow in sum (BIGINT); cast the argument to DOUBLE", offset: nil) }
                    states[g][k] = .sumInt(r, seen: true)
                case .sumDouble(let s, _): states[g][k] = .sumDouble(s + (arg.type == .double ? arg.doubles[i] : Double(arg.ints[i])), seen: true)
                case .avg(let s, let c): states[g][k] = .avg(s + (arg.type == .double ? arg.doubles[i] : Double(arg.ints[i])), c + 1)
                case .extreme(let cur):
                    let v = arg.value(i)
                    if cur.isNull || (a.function == .min ? Self.less(v, cur) : Self.less(cur, v)) { states[g][k] = .extreme(v) }
                case .distinct(var set):
                    states[g][k] = .count(0)  // keep `set` uniquely referenced
                    set.insert(arg.value(i))
                    states[g][k] = .distinct(set)
                case .values(var list):
                    states[g][k] = .count(0)
                    list.append(arg.type == .double ? arg.doubles[i] : Double(arg.ints[i]))
                    states[g][k] = .values(list)
                }
            }
        }
    }

    static func less(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y
        case (.double(let x), .double(let y)): return x < y
        case (.string(let x), .string(let y)): return x < y
        default: return false
        }
    }

    /// The post-aggregation batch: group keys, then one column per aggregate.
    func result() -> Batch {
        var cols = keyTypes.map { Vector(type: $0, count: keys.count) }
        for (k, _) in keyTypes.enumerated() { for key in keys { cols[k].append(key[k]) } }
        for (k, a) in aggregates.enumerated() {
            var v = Vector(type: a.type, count: keys.count)
            for g in keys.indices {
                switch states[g][k] {
                case .count(let c): v.append(.int(c))
                case .sumInt(let s, let seen): v.append(seen ? .int(s) : .null)
                case .sumDouble(let s, let seen): v.append(seen ? .double(s) : .null)
                case .avg(let s, let c): v.append(c == 0 ? .null : .double(s / Double(c)))
                case .extreme(let x): v.append(x)
                case .distinct(let set):
                    if a.function == .count { v.append(.int(Int64(set.count))); break }
                    var sum = 0.0, isum: Int64 = 0
                    for x in set { if case .int(let i) = x { isum &+= i; sum += Double(i) } else if case .double(let d) = x { sum += d } }
                    switch a.function {
                    case .sum: v.append(set.isEmpty ? .null : (a.type == .double ? .double(sum) : .int(isum)))
                    case .avg: v.append(set.isEmpty ? .null : .double(sum / Double(set.count)))
                    default: v.append(.null)
                    }
                case .values(var list):
                    if list.isEmpty { v.append(.null); break }
                    list.sort()
                    let pos = a.fraction * Double(list.count - 1)
                    let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
                    let q = list[lo] + (list[hi] - list[lo]) * (pos - Double(lo))
                    v.append(a.type == .timestamp ? .int(Int64(q.rounded())) : .double(q))
                }
            }
            cols.append(v)
        }
        return Batch(columns: cols, count: keys.count)
    }
}
