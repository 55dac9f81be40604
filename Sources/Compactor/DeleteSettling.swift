import Catalog
import HotTier

/// When Redis loses a run's deletes (docs/tiering.md): a migration's segments are
/// registered before its Redis deletes, and a Redis that restarts without its last writes
/// (`appendfsync everysec` and the machine stopping), or a replica promoted before it had
/// them, brings moved tickets and log entries back. Readers stay right (a ticket found hot
/// wins), but a later run would move them a second time: a ticket current in two cold rows,
/// an event twice in `ticket_events`.
///
/// So a migration keeps its selection (tickets with their SHA-1s, log entry ids) after it is
/// done, and sets each shard's sentinel `st:{s}:cd` to its run id once every delete call on
/// the shard has replied. A Redis that holds the sentinel holds every one of those deletes:
/// the append-only file and a replica's stream are each a prefix of what the server ran, in
/// order. A later run reads the sentinels of its shards: a shard whose sentinel is older or
/// missing gets the run's deletes again, comparing
/// SHA-1s as recovery does (a ticket changed since stays hot, and joins its shard's reopened
/// set, so that the run that moves it again supersedes the row this migration wrote). Then
/// the selection goes.
///
/// A rollup keeps its hours and the counters it read, and sets the same sentinels after its
/// drops; settling one drops its moving keys that came back, and takes what it moved out of
/// an hour hash whose rename was lost (`MetricsRollup.settleSource`).
///
/// Every run done is checked at each run's start, whatever its age (a sentinel behind a
/// done run is proof of a loss, and a later run must not move what came back a second
/// time); its selection is forgotten only once it is `settleAfterMs` old, so that a replica
/// promoted a little late is still caught.
extension Compactor {
    func settle(lease: Lease, nowMs: Int64) throws -> [String] {
        var notes = [String]()
        let runs = try catalog.unsettledRuns()
        guard !runs.isEmpty else { return notes }
        // One sentinel per shard, the last run whose deletes on it all replied: read once for
        // every run (a run settled below raises those of its shards to itself, never past a later run).
        let sentinels = try hot.deleted(shards: Array(0..<layout.shards))
        for (run, finishedAt, kind) in runs {
            if kind == RunKind.rollup.rawValue {
                if let note = try settleRollup(run, sentinels: sentinels, lease: lease) { notes.append(note) }
            } else {
                if let note = try settleMigration(run, sentinels: sentinels, lease: lease) { notes.append(note) }
            }
            if nowMs - finishedAt >= policy.settleAfterMs { try catalog.settle(run: run) }
        }
        return notes
    }

    /// The shards of `run` whose sentinel is behind it (missing or older).
    func lostShards(_ run: Int64, sentinels: [Int: Int64]) throws -> Set<Int> {
        Set(try catalog.runShards(run).filter { (sentinels[$0] ?? Int64.min) < run })
    }

    func settleMigration(_ run: Int64, sentinels: [Int: Int64], lease: Lease) throws -> String? {
        let lost = try lostShards(run, sentinels: sentinels)
        guard !lost.isEmpty else { return nil }
        try verifyFence(lease)
        let items = try recordedItems(run)
        let entries = try catalog.runLogEntries(run)
        let mine = items.filter { lost.contains($0.shard) }
        let rest = try remainders(of: entries.filter { lost.contains($0.shard) }, tickets: Set(items.map(\.ticket)))
        let (kept, _) = try hot.compareAndDelete(deleteCalls(items: mine, entries: rest, mode: .digest, nonce: ""), token: lease.token)
        // A ticket changed since it came back, or restored from the cold tier since: hot,
        // maybe with this run's row current. The reopened set has the next move
        // supersede whatever rows it has then.
        let shardOf = Dictionary(uniqueKeysWithValues: mine.map { ($0.ticket, $0.shard) })
        let stillThere = try hot.present(kept)
        try hot.addReopened(stillThere.compactMap { id in shardOf[id].map { ($0, id) } })
        try hot.setDeleted(run: run, shards: lost.sorted())
        return "run \(run): Redis no longer held its deletes on \(lost.count) shard(s) (it restarted without its last writes, or a replica took over): done again, \(stillThere.count) ticket(s) changed since stay hot"
    }

    func settleRollup(_ run: Int64, sentinels: [Int: Int64], lease: Lease) throws -> String? {
        let lost = try lostShards(run, sentinels: sentinels)
        guard !lost.isEmpty else { return nil }
        try verifyFence(lease)
        let hours = try catalog.runLogEntries(run).map { (shard: $0.shard, hour: Int64($0.entry) ?? 0) }
        let (dropped, restored) = try MetricsRollup(compactor: self).settle(run: run, shards: lost, hours: hours, counters: catalog.runCounters(run), token: lease.token)
        try hot.setDeleted(run: run, shards: lost.sorted())
        return "run \(run): Redis no longer held its rollup's deletes on \(lost.count) shard(s) (it restarted without its last writes, or a replica took over): \(dropped) moving key(s) dropped again, \(restored) hour hash(es) brought back had the moved counts taken out"
    }
}

extension Compactor {
    /// Whether `recoverOnce` has work to do, read without taking the lease (a daemon asks
    /// every second, `RecoveryWatch`): a run that crashed (unfinished in the catalog, its
    /// lease expired), or a run done whose deletes Redis no longer holds (a sentinel of one
    /// of its shards behind it). Returns why, or nil. A run under way holds the lease; one
    /// that finishes between the two reads makes a needless `recoverOnce`, which finds
    /// nothing.
    public func recoveryNeeded() throws -> String? {
        if let crashed = try catalog.unfinishedRuns().first {
            let lease = try pool.pipelineBlocking([["GET", leaseKey].map { Array($0.utf8) }])[0]
            if case .null = lease { return "run \(crashed.id) is unfinished and no runner holds the lease: it crashed" }
        }
        let runs = try catalog.unsettledRuns()
        guard !runs.isEmpty else { return nil }
        // One sentinel per shard, the last run whose deletes on it all replied: read once for every run.
        let sentinels = try hot.deleted(shards: Array(0..<layout.shards))
        for (run, _, kind) in runs {
            let lost = try lostShards(run, sentinels: sentinels)
            if !lost.isEmpty { return "\(kind) run \(run): Redis no longer holds its deletes on \(lost.count) shard(s)" }
        }
        return nil
    }
}
