import RedisClient
import StrataCore

extension HotTier {
    /// Applies events by merging in the daemon and writing with optimistic transactions
    /// (docs/hot-tier.md, "Writing with a transaction"). Per round, each shard of the batch has
    /// a link of its own (`RedisLinks`), and two round trips:
    /// 1. `WATCH` of its tickets (and of the open minutes), then the reads the merge rests on
    ///    (`TransactionWrite.reads`);
    /// 2. after the merge, `MULTI`, the effects, `EXEC` (`TransactionWrite.transaction`).
    /// `EXEC` applies only if no watched key changed since the `WATCH`: another daemon, the
    /// compactor, the minute folder or a round of this daemon wrote meanwhile. A shard whose
    /// `EXEC` failed is read and merged again; after `maxMergedAttempts` it goes through the
    /// merge script, as on the script path. Cold tickets are asked about after the read, as
    /// in `applyMerged`: the compactor's delete of a watched ticket fails the `EXEC`.
    func applyTransactional(_ events: [TicketEvent], checkCold: Bool, cold: (any ColdTicketSource)?) async throws -> [ApplyOutcome] {
        guard !events.isEmpty else { return [] }
        guard let links else { preconditionFailure("the transaction write path without links") }
        var outcomes = [ApplyOutcome](repeating: .alreadyKnown, count: events.count)
        var pending = shardWrites(events)
        let layout = options.layout
        let firstMinute = options.firstRetainedMinute(nowMs: wallClockMilliseconds())
        for _ in 0..<Self.maxMergedAttempts {
            guard !pending.isEmpty else { break }
            // One round at a time, read to EXEC: two rounds in flight share tickets (a replay's
            // consecutive bulks), and the later one's EXEC would fail on the earlier one's writes.
            await mergeTurn.acquire()
            let result: (again: [ShardWrite], outcomes: [(Int, ApplyOutcome)])
            do { result = try await transactionalAttempt(pending, events: events, checkCold: checkCold, cold: cold, firstMinute: firstMinute, links: links) }
            catch { mergeTurn.release(); throw error }
            mergeTurn.release()
            for (i, o) in result.outcomes { outcomes[i] = o }
            pending = result.again
        }
        // Shards that kept losing the race: the merge script, atomic in Redis, always progresses.
        if !pending.isEmpty {
            mergedStats.fallbacks.add(pending.count, ordering: .relaxed)
            let rest = pending.flatMap(\.events).sorted()
            let done = try await applyByScript(rest.map { events[$0] }, checkCold: checkCold)
            for (i, o) in zip(rest, done) { outcomes[i] = o }
        }
        return outcomes
    }

    /// Rounds of more events than this merge their shards in two halves at once: the merge
    /// runs while Redis waits for it (rounds go one at a time), so a second core shortens it.
    static let parallelMergeEvents = 256

    /// One read, merge and write of these shards: the shards whose EXEC failed, and the
    /// outcomes of the events of the others.
    func transactionalAttempt(_ pending: [ShardWrite], events: [TicketEvent], checkCold: Bool, cold: (any ColdTicketSource)?,
                              firstMinute: Int64, links: RedisLinks) async throws -> (again: [ShardWrite], outcomes: [(Int, ApplyOutcome)]) {
        let layout = options.layout, options = self.options
        // 1. Watch and read, every shard on its own link, all in one round trip.
        let shards = pending.map { TransactionWrite($0, events: events, firstMinute: firstMinute, layout: layout) }
        let reads = shards.map { $0.reads(layout: layout) }
        let (held, replies) = try await links.run { () throws -> ([RedisConnection], [[RESPValue]]) in
            let held = try links.checkout(reads.count)
            do { return (held, try links.exchange(held, reads)) } catch { links.discard(held); throw error }
        }
        // From here the links hold WATCHes: each one ends with EXEC or UNWATCH and is
        // checked in, or is closed.
        var second = [RESPCommand]()
        var merged = [[ApplyOutcome]]()
        do {
            if let hook = betweenReadAndWrite.withLock({ $0 }) { try await hook() }
            let found = try zip(shards, replies).map { try $0.parse($1, layout: layout) }
            var mayBeCold: Set<Int64>? = nil
            if checkCold, let cold {
                mayBeCold = try cold.mayHold(zip(shards, found).flatMap { s, f in s.write.ids.filter { f.stored[$0] == nil } })
            }
            // 2. Merge each shard over what it found.
            let coldIDs = mayBeCold
            let merges = try await Self.byShard(shards.count, parallel: events.count > Self.parallelMergeEvents) { k -> ShardMergeResult in
                var merge = ShardMerge(firstMinute: firstMinute)
                do {
                    for i in shards[k].write.events {
                        let e = events[i]
                        try merge.apply(e, checkCold: checkCold && (coldIDs?.contains(e.id) ?? true)) { found[k].stored[$0] }
                    }
                } catch let e as MsgPackError {
                    throw CorruptHotData("a stored ticket of shard \(shards[k].write.shard) cannot be read: \(e)")
                }
                let writes = merge.writes()
                let asks = TransactionWrite.indexReads(TransactionWrite.unknownInIndex(merge, writes: writes), shard: shards[k].write.shard, layout: layout)
                return ShardMergeResult(merge: merge, writes: writes, asks: asks)
            }
            // Rarely, tickets whose place in the hot index the read did not tell: asked on
            // the same links, which still watch them.
            var indexed = [Set<Int64>](repeating: [], count: shards.count)
            if merges.contains(where: { !$0.asks.isEmpty }) {
                let commands = merges.map { $0.asks.map(\.command) }
                let answers = try await links.run { () throws -> [[RESPValue]] in try links.exchange(held, commands) }
                for k in merges.indices { indexed[k] = try TransactionWrite.indexed(merges[k].asks, replies: answers[k]) }
            }
            // 3. Each shard's transaction (nothing to write: UNWATCH, answered from the read).
            let known = indexed
            second = try await Self.byShard(shards.count, parallel: events.count > Self.parallelMergeEvents) { k -> RESPCommand in
                let m = merges[k]
                return m.writes.isEmpty ? TransactionWrite.unwatch
                    : try shards[k].transaction(merge: m.merge, writes: m.writes, found: found[k], indexed: known[k], options: options)
            }
            merged = merges.map(\.merge.outcomes)
        } catch {
            links.discard(held)
            throw error
        }
        // 4. Write: every shard's transaction, in one round trip.
        let writing = second.map { [$0] }
        let results = try await links.run { () throws -> [[RESPValue]] in
            do {
                let r = try links.exchange(held, writing)
                links.checkin(held)
                return r
            } catch { links.discard(held); throw error }
        }
        var again = [ShardWrite]()
        var outcomes = [(Int, ApplyOutcome)]()
        for (k, shard) in shards.enumerated() {
            let applied: Bool
            if second[k].replies == 1 {
                guard case .simple("OK") = results[k].first else { throw RedisError.protocolError("UNWATCH of shard \(shard.write.shard) answered \(results[k])") }
                applied = true
            } else {
                applied = try TransactionWrite.applied(results[k], shard: shard.write.shard)
                if applied { mergedStats.writes.add(1, ordering: .relaxed) }
            }
            if applied {
                for (i, o) in zip(shard.write.events, merged[k]) { outcomes.append((i, o)) }
            } else {
                mergedStats.conflicts.add(1, ordering: .relaxed)
                again.append(shard.write)
            }
        }
        return (again, outcomes)
    }

    struct ShardMergeResult: Sendable {
        var merge: ShardMerge
        var writes: [ShardMerge.Write]
        var asks: [(ids: [Int64], command: RESPCommand)]
    }

    /// `body` for each shard index in order: on this task, or (`parallel`) the first half on a
    /// child task while this one does the second.
    static func byShard<T: Sendable>(_ count: Int, parallel: Bool, _ body: @escaping @Sendable (Int) throws -> T) async throws -> [T] {
        guard parallel, count > 1 else { return try (0..<count).map(body) }
        let half = count / 2
        async let first = try (0..<half).map(body)
        let second = try (half..<count).map(body)
        return try await first + second
    }
}
