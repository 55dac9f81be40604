import Catalog
import ColdStore
import HotTier
import Query
import RedisClient
import SegmentFormat
import StrataCore
import Dispatch
import Synchronization

/// The query engine's rows, from both tiers, each exactly once (docs/tiering.md):
/// - `tickets`: the hot tickets first, then the live segments minus superseded rows and
///   minus tickets found hot (hot wins). Tickets whose create has not arrived are left out.
/// - `ticket_events`: the hot change logs, then the live segments (an entry is in exactly one).
/// - `ticket_metrics`: the hour hashes, the moving keys of rollup runs not yet registered,
///   then the live segments.
/// Segments and row groups that cannot hold rows in the WHERE clause's id/time ranges
/// are skipped, by the catalog's ranges and by the footers' statistics.
public struct TieredTableSource: TableSource {
    public let pool: RedisPool?
    public let layout: KeyLayout
    /// The cold tier's catalog and open segments, kept between queries.
    public let coldTier: ColdTier
    /// Hot tickets kept between queries (a daemon's); nil: read from Redis at each query.
    public let hotCache: HotTicketCache?

    /// `pool` nil: the cold tier only (`--cold-only`).
    public init(pool: RedisPool?, layout: KeyLayout, coldTier: ColdTier, hotCache: HotTicketCache? = nil) {
        self.pool = pool
        self.layout = layout
        self.coldTier = coldTier
        self.hotCache = hotCache
    }

    /// The cold tier now; a catalog or segment that cannot be opened fails the query.
    func coldSnapshot() throws -> ColdSnapshot? {
        do { return try coldTier.snapshot() } catch let e as QueryError { throw e } catch {
            throw QueryError(.unavailable, "the cold tier cannot be read: \(error)", offset: nil)
        }
    }

    static let batchRows = 65_536

    public func scan(table: TableSchema, columns: [String], ranges: [String: ClosedRange<Int64>], planOnly: Bool, threads: Int,
                     _ body: @Sendable (Int, [ColumnVector], Int, [Int]?) throws -> Void) throws -> ScanStats {
        var stats = ScanStats()
        let stored = Tables.stored(table)
        let wanted = try columns.map { name -> Int in
            guard let i = stored.index(of: name) else { throw QueryError(.name, "no column \(name) in \(table.name)", offset: nil) }
            return i
        }
        var hotIDs = Set<Int64>()
        var hotIndex: HotIDs? = nil
        // Hot first, then the cold snapshot: a ticket the compactor moves in between is
        // then in both, and hot wins; the other order could see it in neither.
        var snapshot: ColdSnapshot? = nil
        if let pool {
            var hot: [(columns: [ColumnVector], selection: [Int]?)]
            if let hotCache, table.name == Tables.tickets.name, !Self.isNarrow(ranges),
               let snapshot = try hotCache.snapshot(pool: pool, layout: layout, threads: threads) {
                hot = snapshot.batches
                hotIndex = snapshot.hot
                if snapshot.incomplete > 0 { stats.notes.append("\(snapshot.incomplete) hot ticket(s) whose create has not arrived are not shown") }
            } else {
                hot = try hotBatches(table: table, pool: pool, ranges: ranges, threads: threads, hotIDs: &hotIDs, snapshot: &snapshot, stats: &stats)
                    .map { ($0, nil) }
            }
            stats.hotRows = hot.reduce(0) { $0 + ($1.selection?.count ?? $1.columns[0].count) }
            if !planOnly {
                for batch in hot { try body(0, wanted.map { batch.columns[$0] }, batch.columns[0].count, batch.selection) }
            }
        } else {
            stats.notes.append("hot tier not read (--cold-only): recent changes are missing")
        }
        if snapshot == nil { snapshot = try coldSnapshot() }
        guard let snapshot else { return stats }
        // The row groups to read, after pruning by the catalog's ranges and the footers' statistics.
        let idColumn = stored.idColumn, timeColumn = stored.timeColumn
        var units = [ColdRowGroup]()
        for segment in snapshot.segments(table.name) {
            let seg = segment.info
            stats.segments += 1
            if let r = ranges[idColumn], let lo = seg.minID, let hi = seg.maxID, hi < r.lowerBound || lo > r.upperBound { stats.segmentsPruned += 1; continue }
            if let r = ranges[timeColumn], let lo = seg.minTime, let hi = seg.maxTime, hi < r.lowerBound || lo > r.upperBound { stats.segmentsPruned += 1; continue }
            var firstRow = 0
            for (g, group) in segment.reader.footer.rowGroups.enumerated() {
                defer { firstRow += group.rowCount }
                stats.rowGroups += 1
                var pruned = false
                for (name, r) in ranges {
                    guard let c = segment.reader.footer.columnIndex(name), case .integer(let lo)? = group.chunks[c].min,
                          case .integer(let hi)? = group.chunks[c].max else { continue }
                    if hi < r.lowerBound || lo > r.upperBound { pruned = true; break }
                }
                if pruned { stats.rowGroupsPruned += 1; continue }
                units.append(ColdRowGroup(segment: segment, group: g, firstRow: firstRow))
            }
        }
        if planOnly { return stats }
        let reading = ColdRowGroupRead(table: table, stored: stored, columns: columns, ranges: ranges, hotIDs: hotIndex ?? HotIDs(hotIDs))
        if threads <= 1 || units.count <= 1 {
            for unit in units {
                var tally = ScanTally()
                if let (cols, n, selection) = try reading.read(unit, &tally) { try body(0, cols, n, selection) }
                stats.add(tally)
            }
            return stats
        }
        // Several threads pull row groups from one list; the first error stops them all.
        let work = units
        let next = Atomic<Int>(0)
        let outcome = Mutex<(tally: ScanTally, error: (any Error)?)>((ScanTally(), nil))
        DispatchQueue.concurrentPerform(iterations: min(threads, units.count)) { worker in
            var tally = ScanTally()
            defer { outcome.withLock { $0.tally.merge(tally) } }
            while true {
                let k = next.add(1, ordering: .relaxed).oldValue
                guard k < work.count, outcome.withLock({ $0.error == nil }) else { return }
                do {
                    if let (cols, n, selection) = try reading.read(work[k], &tally) { try body(worker, cols, n, selection) }
                } catch {
                    outcome.withLock { if $0.error == nil { $0.error = error } }
                    return
                }
            }
        }
        let result = outcome.withLock { $0 }
        if let error = result.error { throw error }
        stats.add(result.tally)
        return stats
    }

    /// A narrow id range (a point lookup) reads those keys alone rather than the whole hot tier.
    static let maxDirectIDs: Int64 = 10_000

    static func isNarrow(_ ranges: [String: ClosedRange<Int64>]) -> Bool {
        guard let r = ranges[Tables.tickets.idColumn] else { return false }
        let (span, overflow) = r.upperBound.subtractingReportingOverflow(r.lowerBound)
        return !overflow && span < maxDirectIDs
    }

    /// Hot tickets per chunk of ids: fetched (MGET) and parsed by up to `threads` workers at
    /// once, each chunk its own batch of columns, so that Redis serves one chunk while
    /// another is parsed.
    static let hotChunk = 8_192

    func hotBatches(table: TableSchema, pool: RedisPool, ranges: [String: ClosedRange<Int64>], threads: Int,
                    hotIDs: inout Set<Int64>, snapshot: inout ColdSnapshot?, stats: inout ScanStats) throws -> [[ColumnVector]] {
        guard table.name == Tables.tickets.name else {
            let cols = try hotColumns(table: table, pool: pool, snapshot: &snapshot)
            return (cols.first?.count ?? 0) > 0 ? [cols] : []
        }
        var ids = [Int64]()
        if Self.isNarrow(ranges), let r = ranges[Tables.tickets.idColumn] {
            // A narrow id range: rows outside it cannot pass the WHERE clause, so read only its keys.
            ids = Array(r)
        } else {
            ids = try HotIndex(pool: pool, layout: layout).allIDs()
        }
        let load = try HotLoad.read(ids, pool: pool, layout: layout, threads: threads)
        hotIDs.formUnion(load.found)
        if !load.incomplete.isEmpty { stats.notes.append("\(load.incomplete.count) hot ticket(s) whose create has not arrived are not shown") }
        return load.batches
    }

    /// The hot tier's rows of ticket_events or ticket_metrics, as columns of `Tables.stored(table)`.
    /// ticket_metrics takes the cold snapshot first: the rollup runs still moving are those
    /// of that snapshot (their moving keys read with the hours), and so are the segments read after.
    func hotColumns(table: TableSchema, pool: RedisPool, snapshot: inout ColdSnapshot?) throws -> [ColumnVector] {
        switch table.name {
        case Tables.ticketEvents.name:
            var texts = [[UInt8]]()
            let access = HotTierReads(pool: pool, layout: layout)
            for shard in 0..<layout.shards { texts += try access.allLogEntries(shard: shard) }
            return try TicketRows.eventColumns(texts)
        default:
            // ticket_metrics: every hour hash with the minutes not yet folded into it, and the
            // moving keys of rollup runs that are not registered, per shard in one atomic read.
            // A rollup run that moved on meanwhile (selected, registered) makes it read again.
            var rows = [MetricRow]()
            let access = HotTierReads(pool: pool, layout: layout)
            for attempt in 1...Self.metricReadAttempts {
                let before = try coldSnapshot()
                var moving = [Int: [(run: Int64, hour: Int64)]]()
                for m in before?.movingHours ?? [] { moving[m.shard, default: []].append((m.run, m.hour)) }
                rows = []
                for shard in 0..<layout.shards {
                    for c in try access.hourCounters(shard: shard, moving: moving[shard] ?? []) {
                        rows.append(try MetricRow(key: .init(hour: c.hour, field: c.field), value: c.count))
                    }
                }
                let after = try coldSnapshot()
                snapshot = before
                if Self.sameRollups(before, after) { break }
                if attempt == Self.metricReadAttempts {
                    throw QueryError(.unavailable, "ticket_metrics: compaction kept moving hours while they were read (\(attempt) attempts); try again", offset: nil)
                }
            }
            return MetricRow.columns(rows)
        }
    }
}

extension TieredTableSource {
    static let metricReadAttempts = 5

    /// Whether two snapshots have the same rollup runs moving and the same ticket_metrics segments.
    static func sameRollups(_ a: ColdSnapshot?, _ b: ColdSnapshot?) -> Bool {
        func moving(_ s: ColdSnapshot?) -> [Int64] { (s?.movingHours ?? []).flatMap { [Int64($0.shard), $0.run, $0.hour] } }
        func segments(_ s: ColdSnapshot?) -> [Int64] { (s?.tables[Tables.ticketMetrics.name] ?? []).map(\.info.id) }
        return moving(a) == moving(b) && segments(a) == segments(b)
    }
}

/// One row group to read: the unit of work the scan's threads share.
struct ColdRowGroup: Sendable {
    let segment: LiveSegment
    let group: Int
    /// The group's first row in the segment (deletion vectors count rows per segment).
    let firstRow: Int
}

/// What reading row groups skipped and kept, per thread, summed into the stats at the end.
struct ScanTally: Sendable {
    var rowGroupsSkipped = 0
    var coldRows = 0
    mutating func merge(_ o: ScanTally) {
        rowGroupsSkipped += o.rowGroupsSkipped
        coldRows += o.coldRows
    }
}

extension ScanStats {
    mutating func add(_ t: ScanTally) {
        rowGroupsSkipped += t.rowGroupsSkipped
        coldRows += t.coldRows
    }
}

/// The ids of the tickets read hot, sorted, so that a row group finds the few that fall in
/// its id range (usually none: hot tickets are the recent ones) instead of looking every
/// row up in the whole set.
struct HotIDs: Sendable {
    let all: Set<Int64>
    let sorted: [Int64]

    init(_ ids: Set<Int64>) {
        all = ids
        sorted = ids.sorted()
    }

    /// The ids inside `range`.
    func within(_ range: ClosedRange<Int64>) -> Set<Int64> {
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < range.lowerBound { lo = mid + 1 } else { hi = mid }
        }
        var out = Set<Int64>()
        var i = lo
        while i < sorted.count && sorted[i] <= range.upperBound { out.insert(sorted[i]); i += 1 }
        return out
    }
}

/// Reads one row group for a scan: the range columns first (when no row is inside the
/// WHERE clause's ranges, nothing else is decoded), then the wanted columns, minus deleted
/// rows and rows of tickets found hot (hot wins).
struct ColdRowGroupRead: Sendable {
    let table: TableSchema
    let stored: TableSchema
    let columns: [String]
    let ranges: [String: ClosedRange<Int64>]
    let hotIDs: HotIDs

    /// The wanted columns of the row group and the rows of it that count (nil: all), or nil
    /// when no row does.
    func read(_ unit: ColdRowGroup, _ tally: inout ScanTally) throws -> ([ColumnVector], Int, [Int]?)? {
        let reader = unit.segment.reader, g = unit.group
        let group = reader.footer.rowGroups[g]
        let n = group.rowCount
        let idColumn = stored.idColumn
        var candidates: [Int]? = nil
        var decoded = [String: ColumnVector]()
        let rangeNames = ranges.keys.sorted().filter { reader.footer.columnIndex($0) != nil }
        if !rangeNames.isEmpty {
            let pre = try reader.readRowGroup(g, table: stored, columns: rangeNames)
            for (name, c) in zip(rangeNames, pre) {
                decoded[name] = c
                guard case .integers(let values) = c.values else { continue }
                candidates = Self.rows(inside: ranges[name]!, values, validity: c.validity, among: candidates, count: n)
            }
            if let picked = candidates {
                if picked.isEmpty { tally.rowGroupsSkipped += 1; return nil }
                if picked.count == n { candidates = nil }
            }
        }
        // Only hot tickets whose ids fall in the group's id range can hide its rows.
        var hidden = Set<Int64>()
        if table.name == Tables.tickets.name && !hotIDs.sorted.isEmpty {
            if let c = reader.footer.columnIndex(idColumn), case .integer(let lo)? = group.chunks[c].min, case .integer(let hi)? = group.chunks[c].max {
                hidden = hotIDs.within(lo...hi)
            } else {
                hidden = hotIDs.all
            }
        }
        let checkHot = !hidden.isEmpty
        let names = columns + (checkHot && !columns.contains(idColumn) ? [idColumn] : [])
        if let picked = candidates, picked.count <= Self.maxPointRows {
            return try readPoints(unit, picked, names: names, decoded: decoded, hidden: hidden, &tally)
        }
        // Columns decoded for the ranges are not decoded again.
        let missing = names.filter { decoded[$0] == nil }
        for (name, c) in zip(missing, try reader.readRowGroup(g, table: stored, columns: missing)) { decoded[name] = c }
        let cols = names.map { decoded[$0]! }
        let out = Array(cols.prefix(columns.count))
        let hasDeletions = unit.segment.hasDeletions
        if !hasDeletions && !checkHot {
            tally.coldRows += candidates?.count ?? n
            return (out, n, candidates)
        }
        var keep = [Int]()
        keep.reserveCapacity(candidates?.count ?? n)
        // Ids are never null (the schema says so); the hot check reads the plain array.
        var ids: [Int64]? = nil
        if checkHot, case .integers(let a) = cols[names.firstIndex(of: idColumn)!].values { ids = a }
        for i in candidates ?? Array(0..<n) {
            let row = unit.firstRow + i
            if hasDeletions && !unit.segment.isCurrent(row: row) { continue }
            if let ids, hidden.contains(ids[i]) { continue }
            keep.append(i)
        }
        tally.coldRows += keep.count
        if keep.isEmpty { return nil }
        return (out, n, keep.count == n ? nil : keep)
    }

    /// At most this many rows in the ranges: the other columns are decoded at those rows alone.
    static let maxPointRows = 64

    /// A few rows of the group (a point lookup): deleted and hot ones dropped first, then
    /// the columns not yet decoded are decoded at the rest alone.
    func readPoints(_ unit: ColdRowGroup, _ picked: [Int], names: [String], decoded: [String: ColumnVector], hidden: Set<Int64>,
                    _ tally: inout ScanTally) throws -> ([ColumnVector], Int, [Int]?)? {
        let reader = unit.segment.reader, g = unit.group
        var rows = picked
        if unit.segment.hasDeletions {
            rows = rows.filter { i in
                unit.segment.isCurrent(row: unit.firstRow + i)
            }
        }
        if !hidden.isEmpty && !rows.isEmpty {
            let idColumn = stored.idColumn
            let ids: [Int64]
            if let all = decoded[idColumn], case .integers(let a) = all.values { ids = rows.map { a[$0] } } else {
                guard case .integers(let a) = try reader.readRowGroup(g, table: stored, columns: [idColumn], rows: rows)[0].values else { return nil }
                ids = a
            }
            rows = zip(rows, ids).filter { !hidden.contains($0.1) }.map(\.0)
        }
        tally.coldRows += rows.count
        if rows.isEmpty { return nil }
        let missing = names.prefix(columns.count).filter { decoded[$0] == nil }
        var at = [String: ColumnVector]()
        for (name, c) in zip(missing, try reader.readRowGroup(g, table: stored, columns: Array(missing), rows: rows)) { at[name] = c }
        let out = columns.map { name in at[name] ?? decoded[name]!.selecting(rows) }
        return (out, rows.count, nil)
    }

    /// The rows (of `among`, or of all `n`) whose value is not null and inside `range`.
    /// Every row is written and the count moves only for those that pass: no branch per
    /// row, whatever the share that passes.
    static func rows(inside range: ClosedRange<Int64>, _ values: [Int64], validity: Bitmap?, among: [Int]?, count n: Int) -> [Int] {
        precondition(values.count >= n && (validity?.count ?? n) >= n)
        let lo = range.lowerBound, span = UInt64(bitPattern: range.upperBound &- lo)
        let allValid = [UInt8](repeating: 0xFF, count: validity == nil ? (n + 7) / 8 : 0)
        return [Int](unsafeUninitializedCapacity: among?.count ?? n) { out, kept in
            var k = 0
            values.withUnsafeBufferPointer { v in
                (validity?.bytes ?? allValid).withUnsafeBufferPointer { valid in
                    @inline(__always) func keep(_ i: Int) -> Int {
                        let inside = UInt64(bitPattern: v[i] &- lo) <= span  // lo <= v <= hi, unsigned
                        return (inside ? 1 : 0) & Int((valid[i >> 3] >> UInt8(i & 7)) & 1)
                    }
                    if let among {
                        for i in among { precondition(i >= 0 && i < n); out[k] = i; k &+= keep(i) }
                    } else {
                        for i in 0..<n { out[k] = i; k &+= keep(i) }
                    }
                }
            }
            kept = k
        }
    }
}
