#if canImport(Glibc)
import Glibc
#endif
import Catalog
import ColdStore
import HotTier
import RedisClient
import SegmentFormat
import StrataCore
import SystemSupport
import Tiering

/// What moves to the cold tier and when (configuration, not code).
public struct CompactionPolicy: Sendable {
    /// A ticket whose updated_at is older than this moves.
    public var hotAgeMs: Int64 = 7 * 86_400_000
    /// Most tickets moved by one run.
    public var maxTicketsPerRun = 1_000_000
    /// Tickets moved per migration (a saga of its own, with its own segments): the run's
    /// memory is bounded by this, not by `maxTicketsPerRun` (a migration holds each
    /// selected ticket's value, log lines and segment columns, about 1.6 KB a ticket; two
    /// are in memory at once, one written while the next is read).
    public var ticketsPerMigration = 40_000
    /// An hour of counters moves to `ticket_metrics` once it ended this long ago (the
    /// per-minute retention: until then the minute counters serve the fine-grained view).
    public var metricsHotAgeMs: Int64 = 48 * 3_600_000
    public var leaseMs = 30_000
    /// Size-tiered merging after each run (nil: never merge).
    public var merge: SegmentMerger.Policy? = SegmentMerger.Policy()
    /// Delete a shard's moved tickets on its compaction mark when it still holds (no compare,
    /// docs/tiering.md, "Deleting on a mark"); false: always compare values, as before the
    /// mark (for measuring it, `CompactBench --compare-values`).
    public var deleteOnMarks = true
    /// Every run done (a migration or a rollup) has its deletes checked at each run's start;
    /// once it is this old its selection is dropped (docs/tiering.md, "When Redis loses a
    /// run's deletes"): longer than Redis takes to make them durable (`appendfsync everysec`:
    /// about a second; a replica: its lag).
    public var settleAfterMs: Int64 = 60_000
    public init() {}
}

public struct CompactionReport: Sendable, CustomStringConvertible {
    /// The last migration's run id (0: none); `runs` lists them all.
    public var run: Int64 = 0
    public var runs: [Int64] = []
    public var tickets = 0
    public var events = 0
    public var bytes = 0
    /// Tickets that changed during the run: they stay hot, their cold rows are superseded.
    public var keptHot = 0
    /// Delete calls that found their shard written to since its tickets were read (its
    /// compaction mark moved) and compared values instead (docs/tiering.md, "Deleting on a mark").
    public var comparedCalls = 0
    /// Older cold rows of tickets moved again after they came back from the cold tier,
    /// superseded as the new rows were registered.
    public var reopenedRows = 0
    /// Runs (migrations and rollups) done earlier whose Redis deletes this run found lost and did again
    /// (docs/tiering.md, "When Redis loses a run's deletes").
    public var redoneRuns = 0
    public var recovered: [String] = []
    public var segments: [String] = []
    public var merges: [SegmentMerger.Report] = []
    /// Hours of counters moved (per shard), and the `ticket_metrics` rows they made.
    public var metricHours = 0
    public var metricRows = 0
    /// Hot index scores the selection found behind their ticket's updated_at and raised
    /// (`HotIndexRescore`): tickets selected that were not aged.
    public var rescored = 0

    public var description: String {
        (recovered.map { "recovered: \($0)" } + ["run\(runs.count > 1 ? "s" : "") \(runs.count > 1 ? "\(runs.first!)-\(runs.last!)" : "\(run)"): moved \(tickets - keptHot) tickets and \(events) events to \(segments.count) segment(s), \(bytes) bytes; \(keptHot) changed meanwhile and stay hot" + (comparedCalls > 0 ? "; \(comparedCalls) delete call(s) compared values, their shard written to meanwhile" : "")
                + (reopenedRows > 0 ? "; \(reopenedRows) older cold row(s) of tickets moved again superseded" : "")])
            .joined(separator: "\n") + (metricHours > 0 ? "\nmoved \(metricHours) hour(s) of counters to \(metricRows) ticket_metrics rows" : "") + merges.filter { !$0.merged.isEmpty || $0.skipped != nil }.map { "\n\($0)" }.joined()
    }
}

/// The compactor: moves aged tickets and their change-log entries from Redis into
/// segments registered in the catalog, as a saga of recorded steps (docs/tiering.md).

/// A ticket a run selected: its stored array, read in place, and the array's SHA-1.

public final class Compactor {
    public let pool: RedisPool
    public let layout: KeyLayout
    public let catalog: Catalog
    public let cold: ColdDirectory
    public let policy: CompactionPolicy
    /// Called after each step a run reaches (tests use it to crash or to interfere).
    public var afterStep: AfterStep?
    /// Progress lines of a long run (tickets and bytes so far, rate, ETA).
    public var progress: ((String) -> Void)?

    public init(pool: RedisPool, layout: KeyLayout, catalog: Catalog, cold: ColdDirectory, policy: CompactionPolicy = CompactionPolicy()) {
        self.pool = pool
        self.layout = layout
        self.catalog = catalog
        self.cold = cold
        self.policy = policy
    }

    var hot: HotTierAccess { HotTierAccess(pool: pool, layout: layout) }
    /// The cold tier as readers see it, for the current rows of tickets moved again
    /// (`MigrateRun.register`); opened the first time a migration needs it.
    lazy var coldTier = ColdTier(cold: cold)
    var leaseKey: String { Self.leaseKey(layout) }
    /// The single-runner lease's key (`Lease`): held while a run lasts (`strata status` shows it).
    public static func leaseKey(_ layout: KeyLayout) -> String { "\(layout.prefix):compactor:lease" }
    func fenceKey(_ shard: Int) -> String { "\(layout.prefix):{\(shard)}:fence" }

    /// What a run would move now (read-only): the tickets the index offers as aged that are
    /// (their updated_at read, as a run does: a score may be earlier than updated_at), up to
    /// the run's bound, paging past those that are not.
    public func plan(nowMs: Int64) throws -> (tickets: Int, events: Int, metricHours: Int) {
        var tickets = 0, events = 0
        let cutoff = nowMs - policy.hotAgeMs
        for shard in 0..<layout.shards where tickets < policy.maxTicketsPerRun {
            var moving = Set<Int64>()
            // The shard's candidates (ids only), then their values a page at a time.
            let candidates = try hot.agedTickets(shard: shard, cutoffMs: cutoff, limit: .max)
            for start in stride(from: 0, to: candidates.count, by: Self.planPage) where tickets < policy.maxTicketsPerRun {
                let page = Array(candidates[start..<min(start + Self.planPage, candidates.count)])
                for (id, blob) in zip(page, try hot.blobs(page)) where tickets < policy.maxTicketsPerRun {
                    guard let blob else { continue }
                    let flat: FlatTicket
                    do { flat = try FlatTicket.parse(blob) } catch {
                        throw CompactionError.corrupt("ticket \(id) in Redis (\(layout.ticket(id))) is not a ticket array: \(error)")
                    }
                    guard flat.isComplete, Self.agedBefore(flat, cutoff) else { continue }
                    moving.insert(id)
                    tickets += 1
                }
            }
            events += try hot.logEntries(shard: shard, tickets: moving).reduce(0) { $0 + $1.moved.count }
        }
        return (tickets, events, try MetricsRollup(compactor: self).plannedHourCount(nowMs: nowMs))
    }
    static let planPage = 5_000
    /// Selections of a run after the first: a selection that raised scores (tickets that
    /// were not aged) leaves room that another selection fills.
    static let maxSelections = 8

    /// One run: recover what a crashed run left, then move what has aged.
    public func runOnce(nowMs: Int64) throws -> CompactionReport {
        let lease = Lease(pool: pool, key: leaseKey, ttlMs: policy.leaseMs)
        try lease.acquire()
        defer { lease.release() }
        var report = try recoverAndSettle(lease: lease, nowMs: nowMs)
        try lease.check()
        try migrate(lease: lease, nowMs: nowMs, report: &report)
        try MetricsRollup(compactor: self).run(lease: lease, nowMs: nowMs, report: &report)
        if let mergePolicy = policy.merge {
            var merger = SegmentMerger(catalog: catalog, cold: cold, policy: mergePolicy)
            merger.afterStep = afterStep
            for table in Tables.all {
                try verifyFence(lease)
                report.merges.append(try merger.run(table: table, nowMs: nowMs))
            }
        }
        return report
    }

    /// What a run does before it moves anything, alone: recovers what crashed runs left,
    /// and does again the deletes Redis lost (`settle`). A daemon does it as it starts, so
    /// that after a machine restart the events Redis brought back are not counted twice
    /// until the next run. Returns what it found (`recovered`, `redoneRuns`).
    public func recoverOnce(nowMs: Int64) throws -> CompactionReport {
        let lease = Lease(pool: pool, key: leaseKey, ttlMs: policy.leaseMs)
        try lease.acquire()
        defer { lease.release() }
        return try recoverAndSettle(lease: lease, nowMs: nowMs)
    }

    func recoverAndSettle(lease: Lease, nowMs: Int64) throws -> CompactionReport {
        try setFences(lease.token)
        // A Redis written by an earlier version keeps its hot index in one set per shard.
        try HotIndex(pool: pool, layout: layout).upgrade()
        var report = CompactionReport()
        report.recovered = try recover(lease: lease, nowMs: nowMs)
        let redone = try settle(lease: lease, nowMs: nowMs)
        report.redoneRuns = redone.count
        report.recovered += redone
        return report
    }

    /// Before a catalog commit: the run must still hold its fence (a runner that took
    /// over rewrote every fence with its own token).
    func verifyFence(_ lease: Lease) throws {
        try lease.check()
        let r = try pool.pipelineBlocking([["GET", fenceKey(0)].map { Array($0.utf8) }])[0]
        guard r.string == lease.token else { throw CompactionError.fenced("another runner took over (fence \(fenceKey(0)))") }
    }

    func setFences(_ token: String) throws {
        let replies = try pool.pipelineBlocking((0..<layout.shards).map { ["SET", fenceKey($0), token].map { Array($0.utf8) } })
        for r in replies { if case .error(let m) = r { throw RedisError.server(command: "SET fence", message: m) } }
    }

    // MARK: the saga

    func migrate(lease: Lease, nowMs: Int64, report: inout CompactionReport) throws {
        // A score may be earlier than its ticket's updated_at (writers only lower scores): a
        // selection raises those of the tickets it finds not aged, and when it did, the room
        // they took is filled by selecting again.
        for _ in 0..<Self.maxSelections {
            let rescored = report.rescored
            try select(room: policy.maxTicketsPerRun - report.tickets, lease: lease, nowMs: nowMs, report: &report)
            if report.rescored == rescored || report.tickets >= policy.maxTicketsPerRun { break }
        }
    }

    func select(room: Int, lease: Lease, nowMs: Int64, report: inout CompactionReport) throws {
        let cutoff = nowMs - policy.hotAgeMs
        // 1. select: aged tickets, their exact values, their log entries.
        // Which tickets, per shard (ids only), within the run's bound.
        var plan = [(shard: Int, ids: [Int64])]()
        var room = room
        for shard in 0..<layout.shards where room > 0 {
            let ids = try hot.agedTickets(shard: shard, cutoffMs: cutoff, limit: room)
            room -= ids.count
            if !ids.isEmpty { plan.append((shard, ids)) }
        }
        // In migrations of at most `ticketsPerMigration` tickets, one after the other: each
        // reads the shard logs again, so an entry whose other lines an earlier migration put
        // back is found by the later one.
        let batches = Self.migrations(plan, most: policy.ticketsPerMigration)
        try migrateInTurn(Self.interleaved(batches), lease: lease, nowMs: nowMs, report: &report)
    }

    /// `plan` (ids per shard) in migrations of at most `most` tickets: whole shards while they
    /// fit, so that the next migration shares none with this one and can be read meanwhile
    /// (`migrateInTurn`); a shard larger than `most` is split into migrations of its own.
    static func migrations(_ plan: [(shard: Int, ids: [Int64])], most: Int) -> [[(shard: Int, ids: [Int64])]] {
        precondition(most >= 1)
        var batches = [[(shard: Int, ids: [Int64])]](), batch = [(shard: Int, ids: [Int64])](), size = 0
        for (shard, ids) in plan {
            if size > 0 && size + ids.count > most {
                batches.append(batch)
                batch = []
                size = 0
            }
            for start in stride(from: 0, to: ids.count, by: most) {
                let part = Array(ids[start..<min(start + most, ids.count)])
                if part.count == most { batches.append([(shard, part)]) } else {
                    batch.append((shard, part))
                    size += part.count
                }
            }
        }
        if !batch.isEmpty { batches.append(batch) }
        return batches
    }

    /// `batches` reordered so that, where it can be, each shares no shard with the one before
    /// it (the parts of a large shard between other shards' migrations), keeping the order of
    /// each shard's parts and otherwise the order given.
    static func interleaved(_ batches: [[(shard: Int, ids: [Int64])]]) -> [[(shard: Int, ids: [Int64])]] {
        var rest = batches[...].map { $0 }
        var ordered = [[(shard: Int, ids: [Int64])]]()
        ordered.reserveCapacity(batches.count)
        while !rest.isEmpty {
            let last = Set(ordered.last?.map(\.shard) ?? [])
            // The first batch that shares no shard with the last one, and none with a batch
            // before it in `rest` (a shard's parts stay in order).
            var earlier = Set<Int>()
            var pick = 0
            for (i, b) in rest.enumerated() {
                let shards = Set(b.map(\.shard))
                if shards.isDisjoint(with: last) && shards.isDisjoint(with: earlier) { pick = i; break }
                earlier.formUnion(shards)
            }
            ordered.append(rest.remove(at: pick))
        }
        return ordered
    }

    /// The migrations of `batches`, one after the other; the next one's tickets are read
    /// (`gather`: Redis reads and decoding, no write but raised index scores) while this one
    /// writes its segments and deletes from Redis, when the two touch no shard in common. A
    /// shard split over two migrations is read after the first of them ended: its log entries
    /// hold lines of both, and the first one's delete puts the second one's lines back as new
    /// entries that the second must find.
    func migrateInTurn(_ batches: [[(shard: Int, ids: [Int64])]], lease: Lease, nowMs: Int64, report: inout CompactionReport) throws {
        guard !batches.isEmpty else { return }
        // `gather` reads only what does not change during a run (pool, layout, policy, the
        // progress callback); the saga on this thread changes none of it.
        nonisolated(unsafe) let compactor = self
        var gathered: Result<Gathered, any Error>? = Result { try gather(batches[0], lease: lease, nowMs: nowMs) }
        for k in batches.indices {
            // Taken out of `gathered`: `current` holds the migration's only reference.
            let current = try gathered.take()!.get()
            report.rescored += current.rescored
            let ahead = k + 1 < batches.count && Set(batches[k].map(\.shard)).isDisjoint(with: batches[k + 1].map(\.shard))
            let reading = ahead ? Background { try compactor.gather(batches[k + 1], lease: lease, nowMs: nowMs) } : nil
            do {
                try migrate(current, lease: lease, nowMs: nowMs, report: &report)
            } catch {
                _ = reading?.wait()  // nothing may use the pool or the lease after the run returns
                throw error
            }
            // Its selection freed on another thread while the next one starts (on the run's
            // thread, between two migrations, it took 14 ms of 33,000 tickets).
            dropInBackground(consume current)
            if k + 1 < batches.count {
                gathered = reading?.wait() ?? Result { try gather(batches[k + 1], lease: lease, nowMs: nowMs) }
            }
        }
    }

    /// One migration's tickets as read from Redis: values, log entries, and the index scores
    /// raised on the way (`HotIndexRescore`).
    struct Gathered: Sendable {
        var items: [SelectedTicket]
        /// The nonce of the compaction marks set before the reads (`HotTierAccess.mark`).
        var nonce: String
        var entries: [(shard: Int, split: HotTierReads.LogEntrySplit)]
        var rescored: Int
        /// The selected tickets in their shard's reopened set (restored from the cold tier).
        var reopened: [Int64]
    }

    /// Whether a selected ticket was last updated before `cutoffMs` (one the index
    /// selected by its hour may not be; one without an integer updated_at moves, as the
    /// index placed it).
    static func agedBefore(_ flat: FlatTicket, _ cutoffMs: Int64) -> Bool {
        guard case .integer(let ms) = flat.values[updatedColumn] else { return true }
        return ms < cutoffMs
    }
    static let updatedColumn = HotIndexRescore.updatedColumn

    /// One migration's reads: the tickets of `plan` (ids per shard), their values and log
    /// lines. Shards on two connections, so that decoding one overlaps with Redis serving the
    /// other; progress after every few shards.
    func gather(_ plan: [(shard: Int, ids: [Int64])], lease: Lease, nowMs: Int64) throws -> Gathered {
        try lease.check()
        var items = [SelectedTicket]()
        var entries = [(shard: Int, split: HotTierReads.LogEntrySplit)]()
        var rescored = 0
        var reopened = [Int64]()
        let started = monotonicSeconds()
        let hot = self.hot, layout = self.layout, cutoff = nowMs - policy.hotAgeMs
        // Each shard is marked before its tickets are read: its delete then needs no compare
        // while nothing wrote to the shard meanwhile (docs/tiering.md, "Deleting on a mark").
        let nonce = policy.deleteOnMarks ? String(UInt64.random(in: 1...UInt64.max), radix: 16) : "", fences = (0..<layout.shards).map(fenceKey)
        for start in stride(from: 0, to: plan.count, by: 4) {
            let part = Array(plan[start..<min(start + 4, plan.count)])
            let rescore = HotIndexRescore(pool: pool, layout: layout)
            let selected = try parallelMap(part) { shard, ids in
                var tickets = [SelectedTicket]()
                var mine = Set<Int64>()
                var behind = [(id: Int64, value: [UInt8], score: Int64)]()
                if !nonce.isEmpty { try hot.mark(shard: shard, fenceKey: fences[shard], token: lease.token, nonce: nonce) }
                // Each MGET's tickets decoded as its reply is read, while Redis runs the next.
                try hot.reads.forEachBlob(shard: shard, ids) { k, blob in
                    let id = ids[k]
                    guard let blob else { return }
                    let flat: FlatTicket
                    do { flat = try FlatTicket.parse(blob) } catch {
                        throw CompactionError.corrupt("ticket \(id) in Redis (\(layout.ticket(id))) is not a ticket array: \(error)")
                    }
                    // The hot index holds an hour no later than updated_at's
                    // (`KeyLayout.hotIndexScore`): a ticket patched in a later hour, or of the
                    // cutoff's hour, may be selected and not be aged. Its score is raised to its
                    // hour, so that the next selection does not find it again.
                    guard Self.agedBefore(flat, cutoff) else {
                        if let score = HotIndexRescore.score(of: flat) { behind.append((id, blob, score)) }
                        return
                    }
                    // A ticket whose create has not arrived yet lacks required columns: it is not
                    // ready for the cold tier (a segment would have to invent those values).
                    guard flat.isComplete else { return }
                    tickets.append(SelectedTicket(id: id, shard: shard, blob: blob, flat: flat, digest: SHA1.digest(blob)))
                    mine.insert(id)
                }
                let raised = behind.isEmpty ? 0 : try rescore.rescore(shard: shard, behind)
                // Read after the tickets: a selected ticket restored before its read joined the
                // set in the same call, and none can be restored after it (it is hot).
                let back = mine.isEmpty ? [] : try hot.reopened(shard: shard).filter(mine.contains)
                return (tickets, mine.isEmpty ? [] : try hot.logEntries(shard: shard, tickets: mine).map { (shard, $0) }, raised, back)
            }
            for (t, e, raised, back) in selected {
                items += t
                entries += e
                rescored += raised
                reopened += back
            }
            if let progress, !items.isEmpty {
                let done = start + part.count
                let elapsed = max(monotonicSeconds() - started, 0.001)
                let eta = elapsed / Double(done) * Double(plan.count - done)
                progress("selecting: shard \(done)/\(plan.count), \(items.count) tickets, \(entries.reduce(0) { $0 + $1.split.moved.count }) events, \(Int(Double(items.count) / elapsed)) tickets/s, ETA \(Int(eta)) s")
            }
        }
        items.sort { $0.id < $1.id }  // as the segment's rows are (a ticket is one reference to move)
        return Gathered(items: items, nonce: nonce, entries: entries, rescored: rescored, reopened: reopened)
    }

    /// One migration of what `gather` read, as one saga.
    func migrate(_ g: Gathered, lease: Lease, nowMs: Int64, report: inout CompactionReport) throws {
        guard !g.items.isEmpty else { return }
        var saga = RunSaga(kind: .migrate)
        var executor = MigrateRun(compactor: self, lease: lease, nowMs: nowMs, items: g.items, nonce: g.nonce, entries: g.entries, reopened: g.reopened)
        try saga.drive(&executor, afterStep: afterStep)
        report.run = executor.run
        report.runs.append(executor.run)
        report.keptHot += executor.keptHot
        report.reopenedRows += executor.superseded
        report.comparedCalls += executor.comparedCalls
        report.tickets += g.items.count
        report.events += g.entries.reduce(0) { $0 + $1.split.moved.count }
        report.bytes += executor.staged.reduce(0) { $0 + $1.bytes }
        report.segments += executor.staged.map(\.finalPath)
    }

    /// Step 4, also used by recovery. Idempotent: a ticket already gone is not "kept".
    /// `selection` is what the run selected: each ticket's stored value, and the nonce of the
    /// marks set before it was read: a shard whose mark still holds is deleted on it, any
    /// other compares each value whole. Recovery reads the run back from the catalog, which
    /// keeps each value's SHA-1, compared as such.
    func deleteMoved(run: Int64, lease: Lease,
                     selection: (items: [(ticket: Int64, shard: Int, value: [UInt8])], nonce: String, entries: [(shard: Int, entry: String, rest: [UInt8])])? = nil) throws -> (keptHot: Int, comparedCalls: Int) {
        try verifyFence(lease)
        let items = try selection?.items ?? recordedItems(run)
        let mode: HotTierAccess.DeleteMode = selection == nil ? .digest : selection!.nonce.isEmpty ? .value : .mark
        let entries = try selection?.entries ?? remainders(of: catalog.runLogEntries(run), tickets: Set(items.map(\.ticket)))
        let calls = deleteCalls(items: items, entries: entries, mode: mode, nonce: selection?.nonce ?? "")
        let (kept, compared) = try hot.compareAndDelete(calls, token: lease.token)
        // Every call replied: each shard's sentinel says so (docs/tiering.md, "When Redis
        // loses a run's deletes"). Set before the step, so a crash before it sets it again.
        try hot.setDeleted(run: run, shards: Set(calls.map(\.shard)).sorted())
        // A kept ticket that no longer exists at all was deleted by an earlier attempt: not kept.
        let reallyKept = try hot.present(kept)
        if !reallyKept.isEmpty, let seg = try catalog.segments(ofRun: run).first(where: { $0.table == Tables.tickets.name }) {
            let order = items.map(\.ticket).sorted()  // the segment's rows are in ticket id order
            let index = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
            try catalog.supersede(segment: seg.id, rows: reallyKept.compactMap { index[$0] })
        }
        try catalog.setStep(run: run, "deleted")
        return (reallyKept.count, compared)
    }

    /// A run's tickets as the catalog recorded them, each with its value's SHA-1 (a run
    /// recorded before digests were kept has whole snapshots: digested here).
    func recordedItems(_ run: Int64) throws -> [(ticket: Int64, shard: Int, value: [UInt8])] {
        try catalog.runItems(run).map { ($0.ticket, $0.shard, $0.blob.count == 20 ? $0.blob : SHA1.digest($0.blob)) }
    }

    /// The delete script calls for a run's tickets (each with its value, or SHA-1 for
    /// `.digest`) and log entries (each with its lines that stay hot), per shard.
    func deleteCalls(items: [(ticket: Int64, shard: Int, value: [UInt8])], entries: [(shard: Int, entry: String, rest: [UInt8])],
                     mode: HotTierAccess.DeleteMode, nonce: String) -> [HotTierAccess.DeleteCall] {
        var calls = [HotTierAccess.DeleteCall]()
        let itemsByShard = Dictionary(grouping: items, by: \.shard)
        let logsByShard = Dictionary(grouping: entries, by: \.shard)
        for shard in Set(itemsByShard.keys).union(logsByShard.keys).sorted() {
            let mine = itemsByShard[shard] ?? []
            let logs = Self.deleteParts((logsByShard[shard] ?? []).map { (id: $0.entry, rest: $0.rest) })
            let tickets = Self.ticketParts(mine.map { (ticket: $0.ticket, expected: $0.2) })
            for k in 0..<max(tickets.count, logs.count, 1) {
                calls.append(.init(shard: shard, fenceKey: fenceKey(shard), items: k < tickets.count ? tickets[k] : [], mode: mode, nonce: nonce,
                                   logEntries: k < logs.count ? logs[k] : []))
            }
        }
        return calls
    }

    /// Log entries in parts for the delete script: at most 2,000 entries and about 4 MiB of
    /// lines that stay hot per call, so that one call stays a modest command.
    static func deleteParts(_ logs: [(id: String, rest: [UInt8])]) -> [[(id: String, rest: [UInt8])]] {
        parts(logs, count: 2000) { $0.rest.count }
    }

    /// Tickets in parts for the delete script: at most 500 and about 4 MiB of values to
    /// compare per call (a ticket may be large: a part of one then).
    static func ticketParts(_ items: [(ticket: Int64, expected: [UInt8])]) -> [[(ticket: Int64, expected: [UInt8])]] {
        parts(items, count: 500) { $0.expected.count }
    }

    /// `items` in order, in parts of at most `count` and, unless one item alone is more,
    /// about 4 MiB of `bytes`.
    static func parts<T>(_ items: [T], count: Int, bytes size: (T) -> Int) -> [[T]] {
        var parts = [[T]](), part = [T](), bytes = 0
        for e in items {
            if !part.isEmpty && (part.count == count || bytes + size(e) > 4 << 20) {
                parts.append(part)
                part = []
                bytes = 0
            }
            part.append(e)
            bytes += size(e)
        }
        if !part.isEmpty { parts.append(part) }
        return parts
    }

    /// The lines of recorded entries that stay hot (those of tickets outside the run), read
    /// again by id: an entry never changes once written, so this is what the run selected.
    /// An entry no longer there was deleted by an earlier attempt (its remainder, if any,
    /// re-added then): the delete script's `XDEL` finds nothing and adds nothing.
    func remainders(of entries: [(shard: Int, entry: String)], tickets: Set<Int64>) throws -> [(shard: Int, entry: String, rest: [UInt8])] {
        var out = [(shard: Int, entry: String, rest: [UInt8])]()
        let reads = HotTierReads(pool: pool, layout: layout)
        for (shard, group) in Dictionary(grouping: entries, by: \.shard).sorted(by: { $0.key < $1.key }) {
            let texts = try reads.logEntries(shard: shard, ids: group.map(\.entry))
            for (e, text) in zip(group, texts) {
                let rest = text.flatMap { HotTierReads.LogEntrySplit(id: e.entry, text: $0, tickets: tickets)?.rest } ?? []
                out.append((shard, e.entry, rest))
            }
        }
        return out
    }

    // MARK: recovery

    /// Removes a run's file (and its temporary) if present.
    func removeFile(_ relative: String) {
        let path = cold.absolutePath(relative)
        unlink(path)
        unlink(path + ColdDirectory.temporarySuffix)
    }

    /// Finishes or undoes every run a crash left unfinished (`RunSaga(resuming:)`).
    func recover(lease: Lease, nowMs: Int64) throws -> [String] {
        var notes = [String]()
        for run in try catalog.unfinishedRuns() {
            var saga = try RunSaga(resuming: run)
            let from = saga.step
            switch saga.kind {
            case .migrate:
                var executor = MigrateRun(compactor: self, lease: lease, nowMs: nowMs, resuming: run.id)
                try saga.drive(&executor, afterStep: nil)
                notes.append(from < .registered ? "run \(run.id) had crashed after '\(from)': its files were removed"
                             : "run \(run.id) had crashed after '\(from)': its Redis deletes were finished (\(executor.keptHot) tickets had changed and stay hot)")
            case .rollup:
                var executor = RollupRun(compactor: self, lease: lease, nowMs: nowMs, resuming: run.id)
                try saga.drive(&executor, afterStep: nil)
                notes.append(from < .registered ? "rollup run \(run.id) had crashed after '\(from)': its counters were put back in the hot tier, its file removed"
                             : "rollup run \(run.id) had crashed after '\(from)': its moved counters were deleted from the hot tier")
            case .merge:
                var executor = MergeRun(catalog: catalog, cold: cold, nowMs: nowMs, resuming: run.id)
                try saga.drive(&executor, afterStep: nil)
                notes.append(from < .registered ? "merge run \(run.id) had crashed after '\(from)': its files were removed, its inputs stay live"
                             : "merge run \(run.id) had crashed after '\(from)': marked done")
            }
        }
        try cold.sweepTemporaryFiles()
        return notes
    }
}
