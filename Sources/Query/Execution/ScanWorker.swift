import StrataCore

/// One thread's share of a query: the batches it is handed are filtered, then grouped into
/// its own hash table or kept as rows (top-N trimmed), or streamed to the reader. With
/// several threads each has a worker; `QueryEngine.run` merges them when the scan is done.
final class ScanWorker: @unchecked Sendable {  // used by one thread at a time
    let q: BoundQuery
    let eval: Evaluator
    let maxResultRows: Int
    let maxStreamedRows: Int
    let emit: RowEmitter?
    /// The query's outputs; rows hold them, then the ORDER BY keys.
    var width: Int { q.outputs.count }
    let filterColumns: Set<Int>
    var aggregator: Aggregator?
    /// For each aggregate, an earlier one over the same expression whose argument it reuses
    /// (median and p90 of one duration evaluate it once).
    let sameArgumentAs: [Int?]
    var rows = [[Value]]()
    var skipped = 0, emitted = 0

    init(q: BoundQuery, eval: Evaluator, maxResultRows: Int, maxGroups: Int,
         maxDistinctValues: Int, distinctBatching: DistinctBatching, maxStreamedRows: Int, emit: RowEmitter?) {
        self.q = q
        self.eval = eval
        self.maxResultRows = maxResultRows
        self.maxStreamedRows = maxStreamedRows
        self.emit = emit
        filterColumns = q.filter?.columns ?? []
        let texts = q.aggregates.map { $0.argument.map { String(describing: $0) } }
        sameArgumentAs = texts.indices.map { k in texts[k].flatMap { t in texts[..<k].firstIndex(of: t) } }
        aggregator = q.isAggregate ? Aggregator(aggregates: q.aggregates, keyTypes: q.groupKeys.map(\.type), maxGroups: maxGroups,
                                                      maxDistinctValues: maxDistinctValues, distinctBatching: distinctBatching) : nil
    }

    /// Rows streamed as scanned: no aggregate and no ORDER BY, so each batch's rows are final.
    var streamsRows: Bool { emit != nil && !q.isAggregate && q.orderKeys.isEmpty }

    /// A batch of stored columns from the scan, of which the `selection` rows count (nil:
    /// all). Late materialization: the WHERE clause's columns first; the other columns
    /// only for the rows that pass (a point lookup copies one row).
    func consume(stored: [ColumnVector], count n: Int, selection: [Int]?) throws(QueryError) {
        // A batch is counted in rows; its strings can make it large (64 KiB subjects). It is
        // decoded a slice of rows at a time, of at most about `QueryLimits.batchBytes` of text,
        // so that what one query holds (a slow reader's stream, a worker's batch) stays bounded
        // whatever the rows hold.
        let m = selection?.count ?? n
        let rowsPerSlice = Self.rowsPerSlice(stored, count: n)
        if m > rowsPerSlice {
            var from = 0
            while from < m {
                let to = min(from + rowsPerSlice, m)
                try consumeSlice(stored: stored, count: n, selection: selection.map { Array($0[from..<to]) } ?? Array(from..<to))
                from = to
            }
            return
        }
        try consumeSlice(stored: stored, count: n, selection: selection)
    }

    /// How many rows of a batch make about `QueryLimits.batchBytes` of text (at least one).
    static func rowsPerSlice(_ stored: [ColumnVector], count n: Int) -> Int {
        guard n > 0 else { return 1 }
        var bytes = 0
        for c in stored {
            switch c.values {
            case .strings(let s): bytes += s.bytes.count
            case .dictionary(_, let d): bytes += d.bytes.count
            case .integers: break
            }
        }
        let perRow = max(1, bytes / n)  // integer columns are shared, not copied
        return max(1, QueryLimits.batchBytes / perRow)
    }

    private func consumeSlice(stored: [ColumnVector], count n: Int, selection: [Int]?) throws(QueryError) {
        func vector(_ i: Int, rows: [Int]?) -> Vector {
            rows.map { Vector.from(stored[i], type: q.scanTypes[i], rows: $0) } ?? Vector.from(stored[i], type: q.scanTypes[i])
        }
        let m = selection?.count ?? n
        guard let f = q.filter, filterColumns.count < stored.count else {
            try consume(Batch(columns: stored.indices.map { vector($0, rows: selection) }, count: m), filtered: false)
            return
        }
        var probe = [Vector]()
        for i in stored.indices {
            probe.append(filterColumns.contains(i) ? vector(i, rows: selection) : Vector(type: q.scanTypes[i], ints: [], nulls: [Bool](repeating: true, count: m)))
        }
        let keep = try eval.eval(f, Batch(columns: probe, count: m))
        let selected = Self.trueRows(keep, count: m)
        if selected.isEmpty { return }
        let all = selected.count == m
        // Rows of the stored columns that pass: selected rows of the selection.
        let rows: [Int]? = all ? selection : (selection.map { s in selected.map { s[$0] } } ?? selected)
        let cols = stored.indices.map { i in
            filterColumns.contains(i) ? (all ? probe[i] : probe[i].gather(selected)) : vector(i, rows: rows)
        }
        try consume(Batch(columns: cols, count: selected.count), filtered: true)
    }

    func consume(_ scanned: Batch, filtered: Bool) throws(QueryError) {
        var batch = scanned
        let n = batch.count
        try eval.interrupt.check()  // the deadline, and a reader that went away
        if let f = q.filter, !filtered {
            let keep = try eval.eval(f, batch)
            let selected = Self.trueRows(keep, count: n)
            if selected.count != n { batch = batch.gather(selected) }
        }
        if batch.count == 0 { return }
        if var agg = aggregator {
            aggregator = nil  // keep the tables uniquely referenced
            defer { aggregator = agg }
            var keys = [Vector](), args = [Vector?](), filters = [Vector?]()
            for k in q.groupKeys { keys.append(try eval.eval(k, batch)) }
            for (k, a) in q.aggregates.enumerated() {
                if let earlier = sameArgumentAs[k] { args.append(args[earlier]) } else {
                    args.append(try a.argument.map { (e: BoundExpr) throws(QueryError) -> Vector in try eval.eval(e, batch) })
                }
                filters.append(try a.filter.map { (e: BoundExpr) throws(QueryError) -> Vector in try eval.eval(e, batch) })
            }
            try agg.add(count: batch.count, keys: keys, arguments: args, filters: filters)
            return
        }
        var cols = [Vector]()
        for o in q.outputs { cols.append(try eval.eval(o, batch)) }
        for o in q.orderKeys { cols.append(try eval.eval(o.expr, batch)) }
        if streamsRows, let emit {
            if let limit = q.limit, emitted >= limit { return }
            var slice = (0..<batch.count)[...]
            let drop = min(q.offset - skipped, slice.count)
            skipped += drop
            slice = slice.dropFirst(drop)
            if let limit = q.limit { slice = slice.prefix(limit - emitted) }
            if slice.isEmpty { return }
            emitted += slice.count
            guard emitted <= maxStreamedRows else {
                throw QueryError(.limit, "more than \(maxStreamedRows) streamed rows", offset: nil)
            }
            // Rows are made and handed over 256 at a time, so that a reader that reads slowly
            // holds one small slice of rows here, not the whole batch.
            var from = slice.startIndex
            while from < slice.endIndex {
                let to = min(from + 256, slice.endIndex)
                guard emit.rows((from..<to).map { i in cols.prefix(width).map { $0.value(i) } }[...]) else {
                    throw QueryError(.unavailable, "the reader of the answer went away", offset: nil)
                }
                from = to
            }
            return
        }
        for i in 0..<batch.count { rows.append(cols.map { $0.value(i) }) }
        // Without ORDER BY, LIMIT can stop early.
        if q.orderKeys.isEmpty, let limit = q.limit, rows.count >= limit + q.offset { return }
        // Top-N: ORDER BY … LIMIT keeps only the best rows seen so far.
        if !q.orderKeys.isEmpty, let limit = q.limit, limit + q.offset <= maxResultRows {
            if rows.count > max(2 * (limit + q.offset), 1024) {
                Self.sort(&rows, q, width: width)
                rows.removeLast(rows.count - (limit + q.offset))
            }
            return
        }
        guard rows.count <= maxResultRows + q.offset else {
            throw QueryError(.limit, "more than \(maxResultRows) result rows (add a LIMIT or aggregate)", offset: nil)
        }
    }

    /// The rows where a condition is true (not false, not null). Every row is written and
    /// the count moves only for those that pass: no branch per row.
    static func trueRows(_ keep: Vector, count n: Int) -> [Int] {
        // A NULL of another type carries no integers: true nowhere.
        guard keep.ints.count >= n && keep.nulls.count >= n else { return [] }
        return [Int](unsafeUninitializedCapacity: n) { out, kept in
            var k = 0
            keep.ints.withUnsafeBufferPointer { t in
                keep.nulls.withUnsafeBufferPointer { nulls in
                    nulls.withMemoryRebound(to: UInt8.self) { isNull in
                        for i in 0..<n {
                            out[k] = i
                            k &+= Int((t[i] != 0 ? 1 : 0) & (isNull[i] ^ 1))
                        }
                    }
                }
            }
            kept = k
        }
    }

    /// Sorts rows (outputs, then ORDER BY keys) by the ORDER BY keys.
    static func sort(_ rows: inout [[Value]], _ q: BoundQuery, width: Int) {
        let keys = q.orderKeys
        rows.sort { a, b in
            for (k, key) in keys.enumerated() {
                let x = a[width + k], y = b[width + k]
                if x == y { continue }
                if x.isNull { return key.nullsFirst }
                if y.isNull { return !key.nullsFirst }
                let less = Aggregator.less(x, y)
                return key.descending ? !less : less
            }
            return false
        }
    }
}
