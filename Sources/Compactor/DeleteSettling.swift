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
/// order. A later run, once the migration is `settleAfterMs` old, reads the sentinels of its
/// shards: a shard whose sentinel is older or missing gets the run's deletes again, comparing
/// SHA-1s as recovery does (a ticket changed since stays hot, and joins its shard's reopened
/// set, so that the run that moves it again supersedes the row this migration wrote). Then
/// the selection goes.
extension Compactor {
    func settle(lease: Lease, nowMs: Int64) throws -> [String] {
        var notes = [String]()
        for (run, finishedAt) in try catalog.unsettledRuns() where nowMs - finishedAt >= policy.settleAfterMs {
            let items = try recordedItems(run)
            let entries = try catalog.runLogEntries(run)
            let shards = Set(items.map(\.shard)).union(entries.map(\.shard)).sorted()
            let sentinels = try hot.deleted(shards: shards)
            let lost = Set(shards.filter { (sentinels[$0] ?? Int64.min) < run })
            if !lost.isEmpty {
                try verifyFence(lease)
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
                notes.append("run \(run): Redis no longer held its deletes on \(lost.count) shard(s) (it restarted without its last writes, or a replica took over): done again, \(stillThere.count) ticket(s) changed since stay hot")
            }
            try catalog.settle(run: run)
        }
        return notes
    }
}
