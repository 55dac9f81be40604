import RedisClient
import StrataCore
import Synchronization

/// The write path that merges in the daemon (docs/hot-tier.md, "Merging in the daemon"):
/// per shard, the batch's tickets are read, merged in Swift (`ShardMerge`), and written back
/// by `WriteScript` (`WriteScript.swift`) only if every one of them is still what was read;
/// each shard's call is built by `ShardWrite` (`ShardWrite.swift`).
/// Counts of the merged write path, for `/metrics`.
public final class MergedWriteStats: Sendable {
    /// Shard batches written by the write script.
    public let writes = Atomic<Int>(0)
    /// Shard batches whose tickets changed between the read and the write (read and merged again).
    public let conflicts = Atomic<Int>(0)
    /// Shard batches that lost the race `HotTier.maxMergedAttempts` times and went through the
    /// merge script instead.
    public let fallbacks = Atomic<Int>(0)
    /// Shard batches of the transaction path whose guess (`HotTier.speculativeAttempt`) was not
    /// what the watch then read, and were merged again.
    public let guessesMissed = Atomic<Int>(0)
    public init() {}
}

extension HotTier {
    /// Rounds of read, merge and conditional write before a shard's batch goes through the
    /// merge script instead (which merges atomically in Redis, and so always makes progress).
    static let maxMergedAttempts = 4
    static let mget = Array("MGET".utf8)

    /// The shards of `events`: each shard's events in order, and its tickets.
    func shardWrites(_ events: [TicketEvent]) -> [ShardWrite] {
        let layout = options.layout
        // Ids read through a buffer pointer: `events[i].id` copied the whole event first.
        return events.withUnsafeBufferPointer { events in
            var byShard = [Int: [Int]]()
            for i in events.indices { byShard[layout.shard(of: events[i].id), default: []].append(i) }
            return byShard.sorted { $0.key < $1.key }.map { shard, indices in
                var seen = Set<Int64>(), ids = [Int64]()
                for i in indices where seen.insert(events[i].id).inserted { ids.append(events[i].id) }
                return ShardWrite(shard: shard, events: indices, ids: ids)
            }
        }
    }

    /// Applies events by merging in the daemon: per shard, read, merge, write if unchanged;
    /// the shards that lost a race are read again. Returns each event's outcome.
    ///
    /// Tickets this daemon wrote a moment ago are merged over the bytes it wrote
    /// (`written`) instead of being read; the write script compares them like the rest, and
    /// a shard that lost a race forgets them and reads them. Rounds send their writes one
    /// at a time (`writeTurn`), in the order they got there, so that a round that merged
    /// over an earlier round's pending writes reaches Redis after them.
    ///
    /// With `cold` (and `checkCold`), a ticket absent from Redis is answered "not hot" only
    /// if the cold tier may hold it, asked after the read that found it absent: a compaction
    /// run deletes a ticket from Redis only after registering the segment that holds it, so
    /// a ticket moved before the read is seen by the check, and one moved after it was
    /// present at the read, and the write's compare fails. New tickets are then merged in
    /// this round, not sent round again by `apply(_:cold:)`.
    ///
    /// A ticket not in memory whose events here include its create is not read when the
    /// shard's moved count is known and the cold tier cannot hold it: it is merged as absent,
    /// and the write compares it with absent and the moved count with what was last read
    /// (docs/hot-tier.md, "Tickets not read"). A single new ticket so costs one round trip.
    func applyMerged(_ events: [TicketEvent], checkCold: Bool, cold: (any ColdTicketSource)? = nil) async throws -> [ApplyOutcome] {
        guard !events.isEmpty else { return [] }
        var outcomes = [ApplyOutcome](repeating: .alreadyKnown, count: events.count)
        var pending = shardWrites(events)
        var readAll = Set<Int>()  // shards whose tickets are all read (a merge as absent wrote nothing)
        let layout = options.layout
        let firstMinute = options.firstRetainedMinute(nowMs: wallClockMilliseconds())
        for _ in 0..<Self.maxMergedAttempts {
            guard !pending.isEmpty else { break }
            let sha = try await writeScriptSHA()
            await mergeTurn.acquire()
            var merging = true
            defer { if merging { mergeTurn.release() } }
            // 1. Read what is not in memory: one MGET per shard, all in one round trip, with
            //    the shard's moved count. Tickets created here in a shard whose moved count is
            //    known, and that the cold tier cannot hold, are merged as absent, not read.
            let known = written.lookup(pending.flatMap(\.ids))
            let moved = movedCounts.withLock { $0 }
            var misses = [[Int64]](), unread = [[Int64]]()
            for w in pending {
                let plan = try readPlan(w, events: events, known: known, movedKnown: moved[w.shard] != nil && !readAll.contains(w.shard),
                                        checkCold: checkCold, cold: cold)
                misses.append(plan.read)
                unread.append(plan.absent)
            }
            let reading = pending.indices.filter { !misses[$0].isEmpty }
            let reads = reading.isEmpty ? [] : try await pool.pipeline(reading.map { k in
                // Each key written as the shard's prefix and the id (no String per key).
                let tag = Array(layout.ticketKeyPrefix(pending[k].shard).utf8)
                var b = RESPCommand.Builder(arguments: 2 + misses[k].count, capacity: misses[k].count * (tag.count + 24) + 32)
                b.append(Self.mget)
                for id in misses[k] { b.append(tag, decimal: id) }
                b.append(layout.movedCount(pending[k].shard))
                return b.command(name: "MGET", key: tag)
            })
            var replyOf = [Int: RESPValue]()
            for (k, r) in zip(reading, reads) { replyOf[k] = r }
            // 2. Merge each shard over what it found.
            var calls = [ShardCall]()
            var toRemember = [(id: Int64, blob: [UInt8])]()
            var again = [ShardWrite]()
            var storedByShard = [[Int64: [UInt8]]]()
            var rememberedByShard = [[Int64]]()
            var movedRead = [Int: [UInt8]]()  // the moved counts this round's read returned
            for (k, w) in pending.enumerated() {
                var stored = [Int64: [UInt8]]()
                var remembered = [Int64]()
                for id in w.ids { if let b = known[id] { stored[id] = b; remembered.append(id) } }
                if let reply = replyOf[k] {
                    guard case .array(let values) = reply, values.count == misses[k].count + 1 else {
                        if case .error(let m) = reply { throw RedisError.server(command: "MGET", message: m) }
                        throw RedisError.protocolError("MGET returned \(reply)")
                    }
                    switch values[values.count - 1] {
                    case .bulk(let b): movedRead[w.shard] = b
                    case .null: movedRead[w.shard] = []
                    default: throw RedisError.protocolError("MGET returned \(values[values.count - 1]) for \(layout.movedCount(w.shard))")
                    }
                    for (id, v) in zip(misses[k], values) {
                        switch v {
                        case .bulk(let b): stored[id] = b
                        case .null: continue
                        default: throw RedisError.protocolError("MGET returned \(v) for ticket \(id)")
                        }
                    }
                }
                storedByShard.append(stored)
                rememberedByShard.append(remembered)
            }
            // Only what this read returned: a count a conflict dropped meanwhile stays dropped.
            movedCounts.withLock { table in table.merge(movedRead) { $1 } }
            // Which absent tickets may be cold, in one look at the catalog, after the read
            // (without a cold source to ask: all of them).
            var mayBeCold: Set<Int64>? = nil
            if checkCold, let cold {
                mayBeCold = try cold.mayHold(pending.indices.flatMap { k in pending[k].ids.filter { storedByShard[k][$0] == nil } })
            }
            for (k, w) in pending.enumerated() {
                let stored = storedByShard[k], remembered = rememberedByShard[k]
                var merge = ShardMerge(firstMinute: firstMinute)
                do {
                    // Through a buffer pointer: `events[i]` copied each event (a retain per string and array).
                    try events.withUnsafeBufferPointer { events in
                        for i in w.events {
                            try merge.apply(events[i], checkCold: checkCold && (mayBeCold?.contains(events[i].id) ?? true)) { stored[$0] }
                        }
                    }
                } catch let e as MsgPackError {
                    written.drop(w.ids)
                    throw CorruptHotData("a stored ticket of shard \(w.shard) cannot be read: \(e)")
                }
                let writes = merge.writes()
                // What came from memory and is not written is compared too: the outcomes of its
                // events (repeats, say) rest on it.
                let dirty = Set(writes.map(\.id))
                let compared = (remembered + unread[k]).filter { !dirty.contains($0) }
                if writes.isEmpty {
                    if remembered.isEmpty && unread[k].isEmpty {
                        // Nothing to write (repeats, refusals, tickets not hot): answered from the read.
                        for (i, o) in zip(w.events, merge.outcomes) { outcomes[i] = o }
                    } else {
                        written.drop(remembered)  // confirm them: read them again
                        readAll.insert(w.shard)
                        again.append(w)
                    }
                    continue
                }
                calls.append(ShardCall(write: w, outcomes: merge.outcomes,
                                       command: w.command(sha: sha, merge: merge, writes: writes, compared: compared, stored: stored,
                                                          movedCount: unread[k].isEmpty ? nil : movedRead[w.shard] ?? moved[w.shard], options: options)))
                for x in writes { toRemember.append((x.id, x.blob)) }
            }
            // The next round merges over these writes (from memory) while they are sent.
            written.store(toRemember)
            await writeTurn.acquire()
            merging = false
            mergeTurn.release()
            if let hook = betweenReadAndWrite.withLock({ $0 }) {
                do { try await hook() } catch { writeTurn.release(); throw error }
            }
            // 3. Write each shard's merge, if its tickets are unchanged: one round at a time.
            var replies = [RESPValue]()
            if calls.isEmpty { writeTurn.release() } else {
                do {
                    let commands = calls.map(\.command)
                    replies = try await options.writeRoundAsTransaction ? pool.transaction(commands) : pool.pipeline(commands)
                    writeTurn.release()
                } catch {
                    writeTurn.release()
                    written.drop(calls.flatMap(\.write.ids))
                    throw error
                }
            }
            for (call, reply) in zip(calls, replies) {
                switch reply {
                case .array(let stale) where stale.isEmpty:
                    for (i, o) in zip(call.write.events, call.outcomes) { outcomes[i] = o }
                    mergedStats.writes.add(1, ordering: .relaxed)
                case .array:
                    mergedStats.conflicts.add(1, ordering: .relaxed)
                    written.drop(call.write.ids)
                    movedCounts.withLock { _ = $0.removeValue(forKey: call.write.shard) }  // read it again too
                    again.append(call.write)
                case .error(let m) where m.hasPrefix("NOSCRIPT"):
                    writeSHA.withLock { $0 = nil }
                    written.drop(call.write.ids)
                    again.append(call.write)
                case .error(let m):
                    written.drop(calls.flatMap(\.write.ids))
                    throw RedisError.server(command: "EVALSHA (write)", message: m)
                default:
                    written.drop(calls.flatMap(\.write.ids))
                    throw RedisError.protocolError("write script returned \(reply)")
                }
            }
            pending = again.sorted { $0.shard < $1.shard }
        }
        // Shards that kept losing the race: the merge script, atomic in Redis, always progresses.
        if !pending.isEmpty {
            mergedStats.fallbacks.add(pending.count, ordering: .relaxed)
            written.drop(pending.flatMap(\.ids))
            let rest = pending.flatMap(\.events).sorted()
            let done = try await applyByScript(rest.map { events[$0] }, checkCold: checkCold)
            for (i, o) in zip(rest, done) { outcomes[i] = o }
        }
        return outcomes
    }

    /// Of a shard's tickets not in memory (`known`), those to read, and those merged as absent
    /// without a read (docs/hot-tier.md, "Tickets not read"): created in this batch, in a
    /// shard whose moved count is known (`movedKnown`), and that the cold tier cannot hold.
    func readPlan(_ w: ShardWrite, events: [TicketEvent], known: [Int64: [UInt8]], movedKnown: Bool,
                  checkCold: Bool, cold: (any ColdTicketSource)?) throws -> (read: [Int64], absent: [Int64]) {
        let missing = w.ids.filter { known[$0] == nil }
        // Without a cold source to ask, every absent ticket may be cold: read them all.
        guard movedKnown, !checkCold || cold != nil else { return (missing, []) }
        var created = Set<Int64>()
        events.withUnsafeBufferPointer { events in
            for i in w.events where events[i].op == .create { created.insert(events[i].id) }
        }
        var absent = missing.filter { created.contains($0) }
        if checkCold, let cold, !absent.isEmpty {
            let mayBe = try cold.mayHold(absent)
            absent = absent.filter { !mayBe.contains($0) }
        }
        guard !absent.isEmpty else { return (missing, []) }
        let notRead = Set(absent)
        return (missing.filter { !notRead.contains($0) }, absent)
    }

    func writeScriptSHA() async throws -> String {
        if let s = writeSHA.withLock({ $0 }) { return s }
        let reply = try await pool.command(["SCRIPT", "LOAD", WriteScript.source])
        guard let s = reply.string else { throw RedisError.protocolError("SCRIPT LOAD returned \(reply)") }
        writeSHA.withLock { $0 = s }
        return s
    }
}
