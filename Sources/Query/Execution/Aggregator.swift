/// Hash aggregation. Groups are numbered in first-seen order; each aggregate keeps its
/// states as plain arrays indexed by group (counts, sums, extremes, …), so that a batch
/// updates them in one tight loop per aggregate rather than an enum per row.
struct Aggregator {
    /// One aggregate's states, one slot per group (only the arrays its function uses grow).
    struct States {
        var count: [Int64] = []
        var intSum: [Int64] = []
        var doubleSum: [Double] = []
        var extreme: [Value] = []
        var distinct: [Set<Value>] = []
        /// DISTINCT over integers, timestamps and dates: a bitmap or a table of plain integers.
        var distinctInts: [DistinctIntegers] = []
        /// Values waiting to go into `distinctInts`, per group, and how many in all.
        var distinctPending: [[Int64]] = []
        var pendingCount = 0
        var values: [[Double]] = []
        /// avg(INTERVAL): the parts summed apart (months, days, microseconds).
        var intervalSum: [(months: Int64, days: Int64, micros: Int64)] = []
        /// median(INTERVAL).
        var intervalValues: [[Interval]] = []
    }

    let aggregates: [BoundAggregate]
    let keyTypes: [SQLType]
    let maxGroups: Int
    let maxDistinctValues: Int
    let batching: DistinctBatching
    /// Values held by the DISTINCT aggregates, all groups together (bounded by `maxDistinctValues`).
    var distinctHeld = 0
    var index = [[Value]: Int]()
    var single = [Value: Int]()
    var singleInt = GroupMap<Int64>()
    var nullGroup: Int?
    /// Keys of integers and text coded as integers (`CodedKey`), and each text key's codes.
    var coded = GroupMap<CodedKey>()
    var interned = [[String: Int64]]()
    /// Per aggregate: DISTINCT over an integer-held argument.
    let distinctOverInts: [Bool]
    var keys = [[Value]]()
    var states: [States]

    init(aggregates: [BoundAggregate], keyTypes: [SQLType], maxGroups: Int,
         maxDistinctValues: Int = QueryLimits.defaultMaxDistinctValues, distinctBatching: DistinctBatching = DistinctBatching()) {
        self.aggregates = aggregates
        self.keyTypes = keyTypes
        self.maxGroups = maxGroups
        self.maxDistinctValues = maxDistinctValues
        self.batching = distinctBatching
        states = aggregates.map { _ in States() }
        distinctOverInts = aggregates.map { $0.distinct && ($0.argument?.type.usesInts ?? false) }
        valuesOf = Self.sharedValueLists(aggregates)
        if keyTypes.isEmpty { _ = group([]) }  // no GROUP BY: one group, even over no rows
    }

    /// Per aggregate: the aggregate whose list of values it reads. Quantiles of one argument
    /// under one FILTER (median and p90 of a duration) keep one list, not one each.
    let valuesOf: [Int]

    static func sharedValueLists(_ aggregates: [BoundAggregate]) -> [Int] {
        let keys = aggregates.map { a -> String? in
            guard (a.function == .median || a.function == .quantileCont) && !a.distinct && a.type != .interval, let arg = a.argument else { return nil }
            return "\(arg)|\(a.filter.map { "\($0)" } ?? "")"
        }
        return keys.indices.map { k in keys[k].flatMap { key in keys[..<k].firstIndex(of: key) } ?? k }
    }

    mutating func group(_ key: [Value]) -> Int {
        if let g = index[key] { return g }
        index[key] = keys.count
        keys.append(key)
        for (k, a) in aggregates.enumerated() {
            if a.distinct {
                if distinctOverInts[k] {
                    states[k].distinctInts.append(DistinctIntegers())
                    states[k].distinctPending.append([])
                } else { states[k].distinct.append([]) }
                continue
            }
            switch a.function {
            case .countStar, .count: states[k].count.append(0)
            case .sum, .avg:
                states[k].count.append(0)
                if a.type == .interval { states[k].intervalSum.append((0, 0, 0)) }
                else if a.type == .double || a.function == .avg { states[k].doubleSum.append(0) } else { states[k].intSum.append(0) }
            case .min, .max: states[k].extreme.append(.null)
            case .median, .quantileCont:
                if a.type == .interval { states[k].intervalValues.append([]) } else if valuesOf[k] == k { states[k].values.append([]) }
            }
        }
        return keys.count - 1
    }

    /// Adds one batch: its group-key vectors, each aggregate's argument and filter vectors.
    mutating func add(count n: Int, keys keyVectors: [Vector], arguments: [Vector?], filters: [Vector?]) throws(QueryError) {
        var groupOf = [Int](repeating: 0, count: n)
        if keyVectors.count == 1 && keyVectors[0].type.usesInts {
            // One integer key (ids, days, timestamps): a table of plain integers, and the
            // last key's group at hand for when rows come in runs (a day's tickets in id order).
            let v = keyVectors[0]
            precondition(v.ints.count == n && v.nulls.count == n)
            var lastKey: Int64 = 0, lastGroup = -1
            v.ints.withUnsafeBufferPointer { xs in
                v.nulls.withUnsafeBufferPointer { nulls in
                    groupOf.withUnsafeMutableBufferPointer { out in
                        for i in 0..<n {
                            if nulls[i] {
                                if nullGroup == nil { nullGroup = group([.null]) }
                                out[i] = nullGroup!
                                continue
                            }
                            let x = xs[i]
                            if x == lastKey && lastGroup >= 0 { out[i] = lastGroup; continue }
                            let g: Int
                            if let known = singleInt.group(of: x) { g = known } else {
                                g = group([.int(x)])
                                singleInt.insert(x, group: g)
                            }
                            out[i] = g
                            lastKey = x
                            lastGroup = g
                        }
                    }
                }
            }
        } else if keyVectors.count == 1, let d = keyVectors[0].dictionary {
            // One text key with its dictionary codes: each word finds its group once per
            // batch, rows take their word's group (no hashing per row).
            let v = keyVectors[0]
            var groupOfWord = [Int](repeating: -1, count: d.words.count)
            for i in 0..<n {
                if v.nulls[i] {
                    if nullGroup == nil { nullGroup = group([.null]) }
                    groupOf[i] = nullGroup!
                    continue
                }
                let code = Int(d.codes[i])
                if groupOfWord[code] < 0 {
                    let value = Value.string(d.words[code])
                    if let g = single[value] { groupOfWord[code] = g } else {
                        let g = group([value])
                        single[value] = g
                        groupOfWord[code] = g
                    }
                }
                groupOf[i] = groupOfWord[code]
            }
        } else if !keyVectors.isEmpty && keyVectors.count <= CodedKey.maxKeys && keyVectors.allSatisfy({ $0.type.usesInts || $0.type == .varchar }) {
            // Up to four keys of integers and text: each row's key as integers (text interned
            // once per distinct string), looked up as one small struct, not an array of Values.
            if interned.isEmpty { interned = keyVectors.map { _ in [:] } }
            var codes = [[Int64]]()
            for (c, v) in keyVectors.enumerated() {
                if v.type.usesInts { codes.append(v.ints); continue }
                var out = [Int64](repeating: 0, count: n)
                if let d = v.dictionary {
                    // Each distinct word interned once per batch; rows take their word's code.
                    var byWord = [Int64](repeating: 0, count: d.words.count)
                    for (k, s) in d.words.enumerated() {
                        if let code = interned[c][s] { byWord[k] = code } else {
                            let code = Int64(interned[c].count)
                            interned[c][s] = code
                            byWord[k] = code
                        }
                    }
                    for i in 0..<n where !v.nulls[i] { out[i] = byWord[Int(d.codes[i])] }
                    codes.append(out)
                    continue
                }
                for i in 0..<n where !v.nulls[i] {
                    let s = v.string(i)
                    if let code = interned[c][s] { out[i] = code } else {
                        let code = Int64(interned[c].count)
                        interned[c][s] = code
                        out[i] = code
                    }
                }
                codes.append(out)
            }
            // Keys laid out per column (missing columns zero), a null's code masked to 0 and
            // its bit set: the row loop reads plain buffers.
            let zeros = [Int64](repeating: 0, count: n)
            var columns = (0..<CodedKey.maxKeys).map { $0 < codes.count ? codes[$0] : zeros }
            var nullBits = [UInt8](repeating: 0, count: n)
            for (c, v) in keyVectors.enumerated() {
                precondition(v.nulls.count == n && columns[c].count == n)
                v.nulls.withUnsafeBufferPointer { isNull in
                    isNull.withMemoryRebound(to: UInt8.self) { isNull in
                        columns[c].withUnsafeMutableBufferPointer { x in
                            for i in 0..<n {
                                nullBits[i] |= isNull[i] << UInt8(c)
                                x[i] &= Int64(isNull[i]) &- 1  // 0 where null
                            }
                        }
                    }
                }
            }
            columns[0].withUnsafeBufferPointer { a in columns[1].withUnsafeBufferPointer { b in
                columns[2].withUnsafeBufferPointer { c in columns[3].withUnsafeBufferPointer { d in
                    nullBits.withUnsafeBufferPointer { m in
                        for i in 0..<n {
                            let key = CodedKey(a: a[i], b: b[i], c: c[i], d: d[i], nulls: m[i])
                            if let g = coded.group(of: key) { groupOf[i] = g; continue }
                            let g = group(keyVectors.map { $0.value(i) })
                            coded.insert(key, group: g)
                            groupOf[i] = g
                        }
                    }
                } }
            } }
        } else if keyVectors.count == 1 {
            // One key: look groups up by the value itself, no key array per row.
            let v = keyVectors[0]
            for i in 0..<n {
                let value = v.value(i)
                if let g = single[value] { groupOf[i] = g; continue }
                let g = group([value])
                single[value] = g
                groupOf[i] = g
            }
        } else if !keyVectors.isEmpty {
            var key = [Value](repeating: .null, count: keyVectors.count)
            for i in 0..<n {
                for (k, v) in keyVectors.enumerated() { key[k] = v.value(i) }
                groupOf[i] = group(key)
            }
        }
        guard keys.count <= maxGroups else {
            throw QueryError(.limit, "more than \(maxGroups) groups: the hash table limit (narrow the GROUP BY or add a WHERE)", offset: nil)
        }
        for (k, a) in aggregates.enumerated() {
            // Rows that count: the FILTER holds and (except count(*)) the argument is not null.
            let arg = arguments[k], filter = filters[k]
            if a.function != .countStar && arg == nil { continue }
            if valuesOf[k] != k { continue }  // its values are another quantile's list
            // Without a FILTER, count, sum and avg skip null arguments in place: no row list.
            if filter == nil && !a.distinct, try addWithoutFilter(k, a, count: n, argument: arg, single: keyVectors.isEmpty, groupOf: groupOf) { continue }
            var rows = [Int]()
            rows.reserveCapacity(n)
            // A FILTER that is a NULL of another type (FILTER (WHERE NULL)) holds nowhere.
            let passing = filter.map { ScanWorker.trueRows($0, count: n) }
            for i in passing ?? Array(0..<n) {
                if a.function != .countStar, let arg, arg.nulls[i] { continue }
                rows.append(i)
            }
            if a.distinct, let arg {
                var added = 0
                if distinctOverInts[k] {
                    var sets = states[k].distinctInts
                    states[k].distinctInts = []
                    if sets.count == 1 {
                        arg.ints.withUnsafeBufferPointer { x in
                            for i in rows where sets[0].insert(x[i]) { added += 1 }
                        }
                    } else {
                        // Group by group, and many values at a time: a group's values wait
                        // until there are enough to reuse each cache line of its bitmap or
                        // table, instead of every group's taking turns per row (13 weekly
                        // bitmaps of 250 KB do not fit in a core's cache together).
                        var pending = states[k].distinctPending
                        states[k].distinctPending = []
                        let (values, starts) = Self.bucketed(arg.ints, rows: rows, groupOf: groupOf, groups: sets.count)
                        states[k].pendingCount += values.count
                        for g in 0..<sets.count where starts[g + 1] > starts[g] {
                            pending[g].append(contentsOf: values[starts[g]..<starts[g + 1]])
                            if pending[g].count >= batching.flush {
                                added += sets[g].insert(contentsOf: pending[g])
                                states[k].pendingCount -= pending[g].count
                                pending[g].removeAll(keepingCapacity: true)
                            }
                        }
                        if states[k].pendingCount > batching.pendingLimit {
                            for g in pending.indices where !pending[g].isEmpty {
                                added += sets[g].insert(contentsOf: pending[g])
                                pending[g] = []
                            }
                            states[k].pendingCount = 0
                        }
                        states[k].distinctPending = pending
                    }
                    states[k].distinctInts = sets
                } else {
                    for i in rows where states[k].distinct[groupOf[i]].insert(arg.value(i)).inserted { added += 1 }
                }
                try holdDistinct(added)
                continue
            }
            // The states move out for the loops: plain arrays updated through buffer pointers,
            // with no copy-on-write check per row.
            var st = states[k]
            states[k] = States()
            defer { states[k] = st }
            switch a.function {
            case .countStar, .count:
                st.count.withUnsafeMutableBufferPointer { c in for i in rows { c[groupOf[i]] += 1 } }
            case .sum, .avg:
                guard let arg else { continue }
                st.count.withUnsafeMutableBufferPointer { c in for i in rows { c[groupOf[i]] += 1 } }
                if a.type == .interval {
                    for i in rows {
                        let g = groupOf[i], x = arg.intervals[i], sum = st.intervalSum[g]
                        let (us, o) = sum.micros.addingReportingOverflow(x.micros)
                        guard !o else { throw QueryError(.execution, "interval overflow in avg", offset: nil) }
                        st.intervalSum[g] = (sum.months + Int64(x.months), sum.days + Int64(x.days), us)
                    }
                } else if a.type == .double || a.function == .avg {
                    st.doubleSum.withUnsafeMutableBufferPointer { d in
                        if arg.type == .double { arg.doubles.withUnsafeBufferPointer { x in for i in rows { d[groupOf[i]] += x[i] } } }
                        else { arg.ints.withUnsafeBufferPointer { x in for i in rows { d[groupOf[i]] += Double(x[i]) } } }
                    }
                } else {
                    let overflow = st.intSum.withUnsafeMutableBufferPointer { sums in
                        arg.ints.withUnsafeBufferPointer { x in
                            for i in rows {
                                let g = groupOf[i]
                                let (r, o) = sums[g].addingReportingOverflow(x[i])
                                if o { return true }
                                sums[g] = r
                            }
                            return false
                        }
                    }
                    guard !overflow else { throw QueryError(.execution, "integer overflow in sum (BIGINT); cast the argument to DOUBLE", offset: nil) }
                }
            case .min, .max:
                guard let arg else { continue }
                let isMin = a.function == .min
                for i in rows {
                    let g = groupOf[i], v = arg.value(i), cur = st.extreme[g]
                    if cur.isNull || (isMin ? Self.less(v, cur) : Self.less(cur, v)) { st.extreme[g] = v }
                }
            case .median, .quantileCont:
                guard let arg else { continue }
                if arg.type == .interval { for i in rows { st.intervalValues[groupOf[i]].append(arg.intervals[i]) } }
                else {
                    let picked = arg.type == .double ? rows.map { arg.doubles[$0] } : rows.map { Double(arg.ints[$0]) }
                    Self.append(picked, rows: rows, groupOf: groupOf, single: keyVectors.isEmpty, into: &st.values)
                }
            }
        }
    }

    /// Puts every waiting DISTINCT value into its set: before a merge and before the result.
    mutating func finish() throws(QueryError) {
        for k in aggregates.indices where distinctOverInts[k] && states[k].pendingCount > 0 {
            var added = 0
            for g in states[k].distinctPending.indices where !states[k].distinctPending[g].isEmpty {
                added += states[k].distinctInts[g].insert(contentsOf: states[k].distinctPending[g])
                states[k].distinctPending[g] = []
            }
            states[k].pendingCount = 0
            try holdDistinct(added)
        }
    }

    /// Counts values newly held by DISTINCT aggregates against the limit.
    mutating func holdDistinct(_ added: Int) throws(QueryError) {
        distinctHeld += added
        guard distinctHeld <= maxDistinctValues else {
            throw QueryError(.limit, "more than \(maxDistinctValues) distinct values held for DISTINCT aggregates (narrow the GROUP BY or add a WHERE)", offset: nil)
        }
    }

    /// Folds another thread's hash table into this one, once the scan is done (groups keep
    /// this table's numbering; the other's new groups follow in their order).
    mutating func merge(_ other: Aggregator) throws(QueryError) {
        try finish()
        var other = other
        try other.finish()
        for (go, key) in other.keys.enumerated() {
            let g = group(key)
            for (k, a) in aggregates.enumerated() {
                let o = other.states[k]
                if a.distinct {
                    if distinctOverInts[k] {
                        let before = states[k].distinctInts[g].count
                        states[k].distinctInts[g].formUnion(o.distinctInts[go])
                        try holdDistinct(states[k].distinctInts[g].count - before)
                    } else {
                        let before = states[k].distinct[g].count
                        states[k].distinct[g].formUnion(o.distinct[go])
                        try holdDistinct(states[k].distinct[g].count - before)
                    }
                    continue
                }
                switch a.function {
                case .countStar, .count:
                    states[k].count[g] += o.count[go]
                case .sum, .avg:
                    states[k].count[g] += o.count[go]
                    if a.type == .interval {
                        let x = states[k].intervalSum[g], y = o.intervalSum[go]
                        let (us, overflow) = x.micros.addingReportingOverflow(y.micros)
                        guard !overflow else { throw QueryError(.execution, "interval overflow in avg", offset: nil) }
                        states[k].intervalSum[g] = (x.months + y.months, x.days + y.days, us)
                    } else if a.type == .double || a.function == .avg {
                        states[k].doubleSum[g] += o.doubleSum[go]
                    } else {
                        let (r, overflow) = states[k].intSum[g].addingReportingOverflow(o.intSum[go])
                        guard !overflow else { throw QueryError(.execution, "integer overflow in sum (BIGINT); cast the argument to DOUBLE", offset: nil) }
                        states[k].intSum[g] = r
                    }
                case .min, .max:
                    let v = o.extreme[go], cur = states[k].extreme[g]
                    if v.isNull { continue }
                    if cur.isNull || (a.function == .min ? Self.less(v, cur) : Self.less(cur, v)) { states[k].extreme[g] = v }
                case .median, .quantileCont:
                    if a.type == .interval { states[k].intervalValues[g] += o.intervalValues[go] } else if valuesOf[k] == k { states[k].values[g] += o.values[go] }
                }
            }
        }
        guard keys.count <= maxGroups else {
            throw QueryError(.limit, "more than \(maxGroups) groups: the hash table limit (narrow the GROUP BY or add a WHERE)", offset: nil)
        }
    }

    /// count, sum and avg over a batch without FILTER: plain loops that skip null arguments,
    /// and for a query without GROUP BY no group index at all. False when the aggregate has
    /// no such path (the caller then lists the rows that count).
    mutating func addWithoutFilter(_ k: Int, _ a: BoundAggregate, count n: Int, argument arg: Vector?, single: Bool, groupOf: [Int]) throws(QueryError) -> Bool {
        if a.function == .countStar {
            if single { states[k].count[0] += Int64(n) } else {
                states[k].count.withUnsafeMutableBufferPointer { c in for i in 0..<n { c[groupOf[i]] += 1 } }
            }
            return true
        }
        guard let arg, a.type != .interval, arg.type != .interval, arg.type != .varchar || a.function == .count else { return false }
        guard a.function == .count || a.function == .sum || a.function == .avg else { return false }
        var st = states[k]
        states[k] = States()
        defer { states[k] = st }
        let overflow = arg.nulls.withUnsafeBufferPointer { nulls -> Bool in
            st.count.withUnsafeMutableBufferPointer { c in
                if single {
                    c[0] += Int64(n - Self.nullCount(nulls, count: n))
                } else {
                    groupOf.withUnsafeBufferPointer { g in for i in 0..<n { c[g[i]] += nulls[i] ? 0 : 1 } }
                }
            }
            if a.function == .count { return false }
            if a.type == .double || a.function == .avg {
                return st.doubleSum.withUnsafeMutableBufferPointer { d in
                    groupOf.withUnsafeBufferPointer { g in
                        if arg.type == .double {
                            arg.doubles.withUnsafeBufferPointer { x in
                                if single { d[0] += Self.sum(x, nulls: nulls, count: n) } else { for i in 0..<n { d[g[i]] += nulls[i] ? 0 : x[i] } }
                            }
                        } else {
                            arg.ints.withUnsafeBufferPointer { x in
                                if single { d[0] += Double(Self.sum(x, nulls: nulls, count: n)) } else { for i in 0..<n { d[g[i]] += nulls[i] ? 0 : Double(x[i]) } }
                            }
                        }
                        return false
                    }
                }
            }
            return st.intSum.withUnsafeMutableBufferPointer { sums in
                groupOf.withUnsafeBufferPointer { g in
                    arg.ints.withUnsafeBufferPointer { x in
                        if single {
                            guard let total = Int64(exactly: Int128(sums[0]) + Self.sum(x, nulls: nulls, count: n)) else { return true }
                            sums[0] = total
                            return false
                        }
                        for i in 0..<n {
                            let (r, o) = sums[g[i]].addingReportingOverflow(nulls[i] ? 0 : x[i])
                            if o { return true }
                            sums[g[i]] = r
                        }
                        return false
                    }
                }
            }
        }
        guard !overflow else { throw QueryError(.execution, "integer overflow in sum (BIGINT); cast the argument to DOUBLE", offset: nil) }
        return true
    }

    static func less(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y
        case (.double(let x), .double(let y)): return x < y
        case (.string(let x), .string(let y)): return x < y
        case (.interval(let x), .interval(let y)): return x < y
        default: return false
        }
    }

    /// The post-aggregation batch: group keys, then one column per aggregate.
    func result() throws(QueryError) -> Batch {
        precondition(states.allSatisfy { $0.pendingCount == 0 }, "DISTINCT values still waiting: finish() first")
        var cols = keyTypes.map { Vector(type: $0, count: keys.count) }
        for (k, _) in keyTypes.enumerated() { for key in keys { cols[k].append(key[k]) } }
        // Each list of values is selected in place by every quantile that reads it.
        var lists = [Int: [[Double]]]()
        for (k, a) in aggregates.enumerated() {
            var v = Vector(type: a.type, count: keys.count)
            let s = states[k]
            if valuesOf[k] != k || a.function == .median || a.function == .quantileCont, lists[valuesOf[k]] == nil {
                lists[valuesOf[k]] = states[valuesOf[k]].values
            }
            for g in keys.indices {
                if a.distinct {
                    let set: Set<Value> = distinctOverInts[k] ? [] : s.distinct[g]
                    if distinctOverInts[k] {
                        let ints = s.distinctInts[g]
                        switch a.function {
                        case .count: v.append(.int(Int64(ints.count)))
                        case .sum:
                            // Exact whatever the order: at most 2^63 values of 2^63 fit in Int128.
                            var total: Int128 = 0
                            ints.forEach { total += Int128($0) }
                            guard let sum = Int64(exactly: total) else { throw QueryError(.execution, "integer overflow in sum (BIGINT); cast the argument to DOUBLE", offset: nil) }
                            v.append(ints.count == 0 ? .null : .int(sum))
                        case .avg:
                            var total = 0.0
                            ints.forEach { total += Double($0) }
                            v.append(ints.count == 0 ? .null : .double(total / Double(ints.count)))
                        default: v.append(.null)
                        }
                        continue
                    }
                    switch a.function {
                    case .count: v.append(.int(Int64(set.count)))
                    case .sum, .avg:
                        var sum = 0.0, isum: Int64 = 0
                        for x in set { if case .int(let i) = x { isum &+= i; sum += Double(i) } else if case .double(let d) = x { sum += d } }
                        if set.isEmpty { v.append(.null) } else if a.function == .avg { v.append(.double(sum / Double(set.count))) }
                        else { v.append(a.type == .double ? .double(sum) : .int(isum)) }
                    default: v.append(.null)
                    }
                    continue
                }
                switch a.function {
                case .countStar, .count: v.append(.int(s.count[g]))
                case .sum:
                    if s.count[g] == 0 { v.append(.null) } else { v.append(a.type == .double ? .double(s.doubleSum[g]) : .int(s.intSum[g])) }
                case .avg where a.type == .interval:
                    if s.count[g] == 0 { v.append(.null); continue }
                    let t = s.intervalSum[g]
                    guard let mean = Interval.average(months: t.months, days: t.days, micros: t.micros, count: s.count[g]) else {
                        throw QueryError(.execution, "interval overflow in avg", offset: nil)
                    }
                    v.append(.interval(mean))
                case .avg: v.append(s.count[g] == 0 ? .null : .double(s.doubleSum[g] / Double(s.count[g])))
                case .median where a.type == .interval, .quantileCont where a.type == .interval:
                    v.append(try Self.quantile(s.intervalValues[g], a.fraction))
                case .min, .max: v.append(s.extreme[g])
                case .median, .quantileCont:
                    if lists[valuesOf[k]]![g].isEmpty { v.append(.null); continue }
                    let q = Self.quantile(&lists[valuesOf[k]]![g], a.fraction)
                    v.append(a.type == .timestamp ? .int(Int64(q.rounded())) : .double(q))
                }
            }
            cols.append(v)
        }
        return Batch(columns: cols, count: keys.count)
    }
}
