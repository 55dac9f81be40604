import Catalog
import ColdStore
import HotTier
import StrataCore

/// The executor of a rollup run (`RunSaga`, kind `rollup`; `MetricsRollup` has the why):
///
/// - select: start the run, record its hours and file (one transaction), then rename each
///   hour's hash to the run's moving key (fenced script);
/// - write: read the moving keys (their counters recorded in the catalog), write and publish
///   one `ticket_metrics` segment of their sums;
/// - register: the segment live, under the fence;
/// - deleteMoved: delete the moving keys (fenced script), then set the shards' sentinels;
/// - finish (its hours and counters kept until it is settled), or undo: add the moving keys
///   back into the hour hashes, remove the file, abort.
struct RollupRun: RunExecutor {
    let compactor: Compactor
    let lease: Lease
    let nowMs: Int64
    private(set) var hours: [(shard: Int, hour: Int64)]
    private(set) var run: Int64 = 0
    private(set) var staged: StagedSegment? = nil
    private(set) var rows = 0
    let resuming: Bool
    var file: String? = nil

    init(compactor: Compactor, lease: Lease, nowMs: Int64, hours: [(shard: Int, hour: Int64)]) {
        self.compactor = compactor
        self.lease = lease
        self.nowMs = nowMs
        self.hours = hours
        resuming = false
    }

    init(compactor: Compactor, lease: Lease, nowMs: Int64, resuming run: Int64) {
        self.compactor = compactor
        self.lease = lease
        self.nowMs = nowMs
        self.run = run
        hours = []
        resuming = true
    }

    var rollup: MetricsRollup { MetricsRollup(compactor: compactor) }
    var catalog: Catalog { compactor.catalog }

    mutating func perform(_ action: RunAction) throws -> Bool {
        if resuming && hours.isEmpty {
            hours = try catalog.runLogEntries(run).map { (shard: $0.shard, hour: Int64($0.entry) ?? 0) }
        }
        switch action {
        case .select:
            run = try catalog.startRun(kind: RunKind.rollup.rawValue, now: nowMs)
            let dir = try compactor.cold.prepare(table: Tables.ticketMetrics.name)
            let path = dir + "/" + ColdDirectory.newSegmentName(table: Tables.ticketMetrics.name, nowMs: nowMs)
            file = path
            try catalog.recordSelection(run: run, items: [], logEntries: hours.map { ($0.shard, String($0.hour)) },
                                        files: [compactor.cold.relativePath(path)])
            try rollup.script(.moveOut, run: run, hours: hours, token: lease.token)
        case .write:
            guard let file else { preconditionFailure("write before select") }
            let (moved, read) = try rollup.readMoving(run: run, hours: hours)
            // Kept until the run is settled: what to take out of an hour hash that Redis brings back.
            try catalog.recordCounters(run: run, read)
            rows = moved.count
            if !moved.isEmpty {
                let slash = file.lastIndex(of: "/")!
                var w = try SegmentFileWriter(directory: String(file[..<slash]), fileName: String(file[file.index(after: slash)...]),
                                              schema: Tables.ticketMetrics, createdAtMs: nowMs)
                try w.append(MetricRow.columns(moved))
                let s = try w.stage()
                try lease.check()
                try s.publish()
                staged = s
            }
            try catalog.setStep(run: run, RunStep.written.rawValue)
        case .register:
            try compactor.verifyFence(lease)
            _ = try catalog.registerRunSegments(run: run, staged.map { [Catalog.Segment(staged: $0, table: Tables.ticketMetrics, cold: compactor.cold, nowMs: nowMs)] } ?? [])
        case .deleteMoved:
            try rollup.script(.drop, run: run, hours: hours, token: lease.token)
            // Every drop call replied: the shards' sentinels say so, as a migration's do.
            try compactor.hot.setDeleted(run: run, shards: Set(hours.map(\.shard)).sorted())
            try catalog.setStep(run: run, RunStep.deleted.rawValue)
        case .finish:
            if !resuming { try compactor.verifyFence(lease) }
            // Its hours and counters stay until a later run finds its drops durable (`Compactor.settle`).
            try catalog.finishRun(run: run, state: "done", now: nowMs, detail: resuming ? "finished by recovery" : "", unsettled: true)
        case .undo:
            try rollup.script(.moveBack, run: run, hours: hours, token: lease.token)
            for f in try catalog.runFiles(run) { compactor.removeFile(f) }
            try catalog.finishRun(run: run, state: "aborted", now: nowMs, detail: "crashed before registering; counters put back")
        }
        return true
    }
}
