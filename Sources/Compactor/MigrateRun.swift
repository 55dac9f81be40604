import Catalog
import ColdStore
import HotTier
import SegmentFormat
import StrataCore
import SystemSupport
import Tiering

/// The executor of a migrate run (`RunSaga`, kind `migrate`): aged tickets and their
/// change-log entries, already read from Redis, into a tickets segment and a ticket_events
/// segment (docs/tiering.md):
///
/// - select: start the run, record each ticket's digest and the log entries with the two
///   file names (one transaction), so that compare-and-delete and undo work after a crash;
/// - write: encode both segments at once, one per core (temp file, fsync, rename, fsync dir);
/// - register: both segments live, one transaction, under the fence; in it, the older cold rows
///   of tickets moved again after they came back from the cold tier are superseded;
/// - deleteMoved: delete from Redis what is unchanged (on the shards' compaction marks, or
///   comparing values); tickets changed meanwhile stay hot and their new cold rows are superseded;
/// - finish, or undo: remove the files and mark the run aborted.
struct MigrateRun: RunExecutor {
    let compactor: Compactor
    let lease: Lease
    let nowMs: Int64
    /// The selection, sorted by id (a new run); empty when resuming, where the catalog has it.
    let items: [SelectedTicket]
    /// The nonce of the compaction marks set before the selection was read (empty when resuming).
    let nonce: String
    /// The change-log entries holding lines of the selected tickets, split (`LogEntrySplit`).
    let entries: [(shard: Int, split: HotTierReads.LogEntrySplit)]
    /// The selected tickets restored from the cold tier since they last moved (their shard's
    /// reopened set): their current cold rows are superseded as this run's are registered.
    let reopened: [Int64]
    /// How many such rows were.
    private(set) var superseded = 0
    private(set) var run: Int64 = 0
    private(set) var staged: [StagedSegment] = []
    private(set) var keptHot = 0
    /// Delete calls that compared values: their shard's mark had moved.
    private(set) var comparedCalls = 0
    let resuming: Bool
    var files: (tickets: String, events: String)? = nil

    init(compactor: Compactor, lease: Lease, nowMs: Int64, items: [SelectedTicket], nonce: String, entries: [(shard: Int, split: HotTierReads.LogEntrySplit)],
         reopened: [Int64] = []) {
        precondition(zip(items, items.dropFirst()).allSatisfy { $0.id < $1.id }, "the selection is sorted by id: the segment's rows are")
        self.compactor = compactor
        self.lease = lease
        self.nowMs = nowMs
        self.items = items
        self.nonce = nonce
        self.entries = entries
        self.reopened = reopened
        resuming = false
    }

    init(compactor: Compactor, lease: Lease, nowMs: Int64, resuming run: Int64) {
        self.compactor = compactor
        self.lease = lease
        self.nowMs = nowMs
        items = []
        nonce = ""
        entries = []
        reopened = []
        self.run = run
        resuming = true
    }

    var catalog: Catalog { compactor.catalog }
    var cold: ColdDirectory { compactor.cold }

    mutating func perform(_ action: RunAction) throws -> Bool {
        switch action {
        case .select: try select()
        case .write: try write()
        case .register: superseded = try register()
        case .deleteMoved:
            (keptHot, comparedCalls) = try compactor.deleteMoved(run: run, lease: lease, selection: resuming ? nil
                : (items.map { ($0.id, $0.shard, $0.blob) }, nonce, entries.map { ($0.shard, $0.split.id, $0.split.rest) }))
        case .finish:
            try compactor.verifyFence(lease)
            // Its selection stays until a later run finds its deletes durable (`Compactor.settle`).
            try catalog.finishRun(run: run, state: "done", now: nowMs, detail: resuming ? "finished by recovery" : "", unsettled: true)
        case .undo:
            // Nothing registered: remove whatever files it wrote (orphans), forget it.
            for f in try catalog.runFiles(run) { compactor.removeFile(f) }
            try catalog.finishRun(run: run, state: "aborted", now: nowMs, detail: "crashed before registering; its files were removed")
        }
        return true
    }

    mutating func select() throws {
        run = try catalog.startRun(kind: RunKind.migrate.rawValue, now: nowMs)
        let dir = try cold.prepare(table: Tables.tickets.name)
        let eventsDir = try cold.prepare(table: Tables.ticketEvents.name)
        let names = (dir + "/" + ColdDirectory.newSegmentName(table: Tables.tickets.name, nowMs: nowMs),
                     eventsDir + "/" + ColdDirectory.newSegmentName(table: Tables.ticketEvents.name, nowMs: nowMs))
        files = names
        let recorded = [cold.relativePath(names.0)] + (entries.isEmpty ? [] : [cold.relativePath(names.1)])
        try catalog.recordSelection(run: run, items: items.map { ($0.id, $0.shard, $0.digest) }, logEntries: entries.map { ($0.shard, $0.split.id) },
                                    files: recorded)
    }

    mutating func write() throws {
        guard let files else { preconditionFailure("write before select") }
        let items = self.items, lines = entries.flatMap(\.split.moved), nowMs = self.nowMs
        let split = { (path: String) in (String(path[..<path.lastIndex(of: "/")!]), String(path[path.index(after: path.lastIndex(of: "/")!)...])) }
        let (dir, ticketFile) = split(files.tickets), (eventsDir, eventFile) = split(files.events)
        staged = try parallelMap(entries.isEmpty ? [0] : [0, 1]) { which -> StagedSegment in
            if which == 0 {
                var w = try SegmentFileWriter(directory: dir, fileName: ticketFile, schema: Tables.ticketsStored, createdAtMs: nowMs)
                try w.append(TicketRows.columns(items))
                return try w.stage()
            }
            var e = try SegmentFileWriter(directory: eventsDir, fileName: eventFile, schema: Tables.ticketEvents, createdAtMs: nowMs)
            try e.append(try TicketRows.eventColumns(lines: lines))
            return try e.stage()
        }
        try lease.check()
        for s in staged { try s.publish() }
        try catalog.setStep(run: run, RunStep.written.rawValue)
        compactor.progress?("written: \(staged.map { "\($0.rows) rows, \($0.bytes) bytes" }.joined(separator: "; "))")
    }

    /// Registers the run's segments, superseding in the same transaction the current cold rows
    /// of the reopened tickets it moves (their rows from before they came back: a ticket is
    /// never current in two rows, docs/tiering.md, "A ticket coming back"). Returns how many.
    /// Only this compactor changes the catalog meanwhile (it holds the lease, and merges run
    /// after the migrations), so the rows found before the transaction are still those.
    func register() throws -> Int {
        let rows = reopened.isEmpty ? [] : try compactor.coldTier.snapshot()?.currentRows(of: reopened) ?? []
        try compactor.verifyFence(lease)
        _ = try catalog.registerRunSegments(run: run, staged.map { s in
            let schema = s.footer.table == Tables.tickets.name ? Tables.tickets : Tables.ticketEvents
            return Catalog.Segment(staged: s, table: schema, cold: cold, nowMs: nowMs)
        }, superseding: Dictionary(grouping: rows, by: \.segment).mapValues { $0.map(\.row) })
        return rows.count
    }
}

extension Catalog.Segment {
    /// The catalog row of a segment just written: its file, counts and id and time ranges.
    init(staged s: StagedSegment, table: TableSchema, cold: ColdDirectory, nowMs: Int64) {
        self.init(id: 0, table: table.name, file: cold.relativePath(s.finalPath), rows: Int64(s.rows), bytes: Int64(s.bytes),
                  minID: s.footer.integerRange(of: table.idColumn)?.lowerBound, maxID: s.footer.integerRange(of: table.idColumn)?.upperBound,
                  minTime: s.footer.integerRange(of: table.timeColumn)?.lowerBound, maxTime: s.footer.integerRange(of: table.timeColumn)?.upperBound,
                  state: "live", createdAt: nowMs)
    }
}
