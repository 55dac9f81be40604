import RedisClient
import StrataCore

extension HotTier {
    /// Applies events by merging in the daemon and writing with optimistic transactions
    /// (docs/hot-tier.md, "Writing with a transaction"). Per round, each shard of the batch has
    /// a link of its own (`RedisLinks`):
    /// 1. `WATCH` of its tickets (and of the hour index and the open minutes when its events
    ///    count there), then the reads the merge rests on (`TransactionWrite.reads`);
    /// 2. after the merge, `MULTI`, the effects, `EXEC` (`TransactionWrite.transaction`).
    /// `EXEC` applies only if no watched key changed since the `WATCH`: another daemon, the
    /// compactor, the minute folder or a round of this daemon wrote meanwhile. A shard whose
    /// `EXEC` failed is read and merged again; after `maxMergedAttempts` it goes through the
    /// merge script, as on the script path. Cold tickets are asked about after the read, as
    /// in `applyMerged`: the compactor's delete of a watched ticket fails the `EXEC`. A large
    /// round merges before step 1, over a guess, while the round before it writes
    /// (`speculativeAttempt`), and step 1 checks the guess.
    func applyTransactional(_ events: [TicketEvent], checkCold: Bool, cold: (any ColdTicketSource)?) async throws -> [ApplyOutcome] {
        guard !events.isEmpty else { return [] }
        guard let links else { preconditionFailure("the transaction write path without links") }
        var outcomes = [ApplyOutcome](repeating: .alreadyKnown, count: events.count)
        var pending = shardWrites(events)
        let firstMinute = options.firstRetainedMinute(nowMs: wallClockMilliseconds())
        for _ in 0..<Self.maxMergedAttempts {
            guard !pending.isEmpty else { break }
            // Large rounds merge over a guess while the round before them writes, then watch
            // and check it (`speculativeAttempt`); small ones (single events) watch and read,
            // then merge and write (`transactionalAttempt`).
            let result = events.count > Self.largeRound
                ? try await speculativeAttempt(pending, events: events, checkCold: checkCold, cold: cold, firstMinute: firstMinute, links: links)
                : try await transactionalAttempt(pending, events: events, checkCold: checkCold, cold: cold, firstMinute: firstMinute, links: links)
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

    /// Rounds of more events than this merge over a guess while the round before them writes
    /// (`speculativeAttempt`); smaller ones watch and read, then merge and write in one job.
    static let largeRound = 256

    /// One read, merge and write of these shards: the shards whose EXEC failed, and the
    /// outcomes of the events of the others.
    func transactionalAttempt(_ pending: [ShardWrite], events: [TicketEvent], checkCold: Bool, cold: (any ColdTicketSource)?,
                              firstMinute: Int64, links: RedisLinks) async throws -> (again: [ShardWrite], outcomes: [(Int, ApplyOutcome)]) {
        let layout = options.layout, options = self.options
        let shards = pending.map { TransactionWrite($0, events: events, firstMinute: firstMinute, layout: layout) }
        let reads = shards.map { $0.reads(layout: layout) }
        // What a large round remembers of these tickets (`speculativeAttempt`) may be older
        // than what this one writes: forgotten (a guess from it would only be merged again).
        written.drop(pending.flatMap(\.ids))
        // 1. Watch and read, every shard on its own link, all in one round trip. From here the
        //    links hold WATCHes: each one ends with EXEC or UNWATCH and is checked in, or is closed.
        let (held, replies) = try await links.run { () throws -> ([RedisConnection], [[RESPValue]]) in try links.checkoutAndExchange(reads) }
        if let hook = betweenReadAndWrite.withLock({ $0 }) {
            do { try await hook() } catch { links.discard(held); throw error }
        }
        // 2-4. Merge, build each shard's transaction, write: one job off the cooperative pool,
        //      no thread hop between the merge and the write.
        return try await links.run { () throws -> (again: [ShardWrite], outcomes: [(Int, ApplyOutcome)]) in
            var second = [RESPCommand](), merged = [[ApplyOutcome]]()
            do {
                let found = try zip(shards, replies).map { try $0.parse($1, layout: layout) }
                let coldIDs = try Self.mayBeCold(shards, found, checkCold: checkCold, cold: cold)
                let merges = try shards.indices.map { k in
                    try Self.mergeShard(shards[k], found: found[k], events: events, checkCold: checkCold, coldIDs: coldIDs, firstMinute: firstMinute, layout: layout)
                }
                let indexed = try Self.askIndex(merges.map(\.asks)) { try links.exchange(held, $0) }
                second = try shards.indices.map { k in try Self.transaction(shards[k], merges[k], found: found[k], indexed: indexed[k], options: options) }
                merged = merges.map(\.merge.outcomes)
            } catch { links.discard(held); throw error }
            let results = try links.finish(held, second.map { [$0] })
            return try self.interpret(shards, second, results, merged)
        }
    }

    /// A large round (docs/hot-tier.md, "Writing with a transaction"), in two turns:
    /// 1. (the merge turn, rounds in order) a guess of what its shards hold: the bytes this
    ///    daemon wrote last for the tickets it remembers (`written`: the round before may not be
    ///    written yet), the rest read without `WATCH` with the hours, minutes and moved count;
    ///    the merge over that guess, its writes remembered for the next round;
    /// 2. (the write turn, in order, after the round before has its `EXEC` answer) `WATCH` and
    ///    read all of it again on the shards' links; a shard whose state is not the guess is
    ///    merged again over what the watch read; then each shard's transaction.
    /// So a round merges while the round before it is written, and what it writes rests only
    /// on what it read under `WATCH`, as in `transactionalAttempt`.
    func speculativeAttempt(_ pending: [ShardWrite], events: [TicketEvent], checkCold: Bool, cold: (any ColdTicketSource)?,
                            firstMinute: Int64, links: RedisLinks) async throws -> (again: [ShardWrite], outcomes: [(Int, ApplyOutcome)]) {
        let layout = options.layout, options = self.options
        let shards = pending.map { TransactionWrite($0, events: events, firstMinute: firstMinute, layout: layout) }
        let allIDs = pending.flatMap(\.ids)
        await mergeTurn.acquire()
        var merging = true
        defer { if merging { mergeTurn.release() } }
        // 1. The guess, and the merge over it.
        let known = written.lookup(allIDs)
        let plans = shards.map { s in TransactionWrite.ReadPlan(watch: false, tickets: s.write.ids.filter { known[$0] == nil }, moved: true) }
        let preReads = zip(shards, plans).map { $0.reads(layout: layout, $1) }
        let flat = try await pool.pipeline(preReads.flatMap { $0 })
        var guessed = [TransactionWrite.Found]()
        var at = 0
        for k in shards.indices {
            var f = try shards[k].parse(Array(flat[at..<(at + preReads[k].count)]), layout: layout, plans[k])
            at += preReads[k].count
            for id in shards[k].write.ids { if let b = known[id] { f.stored[id] = b } }
            guessed.append(f)
        }
        let guess = guessed
        let coldIDs = try Self.mayBeCold(shards, guess, checkCold: checkCold, cold: cold)
        var merges = try shards.indices.map { k in
            try Self.mergeShard(shards[k], found: guess[k], events: events, checkCold: checkCold, coldIDs: coldIDs, firstMinute: firstMinute, layout: layout)
        }
        written.store(merges.flatMap { m in m.writes.map { (id: $0.id, blob: $0.blob) } })
        await writeTurn.acquire()
        merging = false
        mergeTurn.release()
        defer { writeTurn.release() }
        do {
            // 2. Watch and read it all again, with the index reads the merge asked for.
            let full = TransactionWrite.ReadPlan(watch: true, tickets: nil, moved: true)
            let asked = merges.map(\.asks)
            let reads = shards.indices.map { k in shards[k].reads(layout: layout, full) + asked[k].map(\.command) }
            let (held, replies) = try await links.run { () throws -> ([RedisConnection], [[RESPValue]]) in try links.checkoutAndExchange(reads) }
            var second = [RESPCommand](), merged = [[ApplyOutcome]]()
            do {
                if let hook = betweenReadAndWrite.withLock({ $0 }) { try await hook() }
                var found = [TransactionWrite.Found](), indexed = [Set<Int64>]()
                for k in shards.indices {
                    let n = reads[k].count - asked[k].count
                    found.append(try shards[k].parse(Array(replies[k][..<n]), layout: layout, full))
                    indexed.append(try TransactionWrite.indexed(asked[k], replies: Array(replies[k][n...])))
                }
                // 3. A shard whose tickets are not the guess: merged again over what the watch read.
                let missed = shards.indices.filter { !found[$0].sameTickets(as: guess[$0], ids: shards[$0].write.ids) }
                if !missed.isEmpty {
                    mergedStats.guessesMissed.add(missed.count, ordering: .relaxed)
                    let again = try Self.mayBeCold(missed.map { shards[$0] }, missed.map { found[$0] }, checkCold: checkCold, cold: cold)
                    for k in missed {
                        merges[k] = try Self.mergeShard(shards[k], found: found[k], events: events, checkCold: checkCold, coldIDs: again, firstMinute: firstMinute, layout: layout)
                    }
                    let asks = shards.indices.map { missed.contains($0) ? merges[$0].asks : [] }
                    let answers = try await links.run { () throws -> [Set<Int64>] in try Self.askIndex(asks) { try links.exchange(held, $0) } }
                    for k in missed { indexed[k] = answers[k] }
                    written.store(missed.flatMap { k in merges[k].writes.map { (id: $0.id, blob: $0.blob) } })
                }
                second = try shards.indices.map { k in try Self.transaction(shards[k], merges[k], found: found[k], indexed: indexed[k], options: options) }
                merged = merges.map(\.merge.outcomes)
            } catch {
                links.discard(held)
                throw error
            }
            // 4. Write: every shard's transaction, in one round trip.
            let writing = second.map { [$0] }
            let results = try await links.run { () throws -> [[RESPValue]] in try links.finish(held, writing) }
            let r = try interpret(shards, second, results, merged)
            written.drop(r.again.flatMap(\.ids))
            return r
        } catch {
            written.drop(allIDs)
            throw error
        }
    }

    /// Which tickets absent from Redis may be cold, in one look at the catalog, after the
    /// read (nil: no cold source to ask, all of them).
    static func mayBeCold(_ shards: [TransactionWrite], _ found: [TransactionWrite.Found], checkCold: Bool,
                          cold: (any ColdTicketSource)?) throws -> Set<Int64>? {
        guard checkCold, let cold else { return nil }
        return try cold.mayHold(zip(shards, found).flatMap { s, f in s.write.ids.filter { f.stored[$0] == nil } })
    }

    /// One shard's events merged over what its read found, its writes, and the index reads it
    /// still needs (`TransactionWrite.unknownInIndex`).
    static func mergeShard(_ shard: TransactionWrite, found: TransactionWrite.Found, events: [TicketEvent], checkCold: Bool, coldIDs: Set<Int64>?,
                           firstMinute: Int64, layout: KeyLayout) throws -> ShardMergeResult {
        var merge = ShardMerge(firstMinute: firstMinute)
        do {
            // Through a buffer pointer: `events[i]` copied each event (a retain per string and array).
            try events.withUnsafeBufferPointer { events in
                for i in shard.write.events {
                    try merge.apply(events[i], checkCold: checkCold && (coldIDs?.contains(events[i].id) ?? true)) { found.stored[$0] }
                }
            }
        } catch let e as MsgPackError {
            throw CorruptHotData("a stored ticket of shard \(shard.write.shard) cannot be read: \(e)")
        }
        let writes = merge.writes()
        let asks = TransactionWrite.indexReads(TransactionWrite.unknownInIndex(merge, writes: writes), shard: shard.write.shard, layout: layout)
        return ShardMergeResult(merge: merge, writes: writes, asks: asks)
    }

    /// Rarely, tickets whose place in the hot index the read did not tell: asked on the same
    /// links, which still watch them (`exchange`). Per shard, those found in their bucket.
    static func askIndex(_ asks: [[(ids: [Int64], command: RESPCommand)]], exchange: ([[RESPCommand]]) throws -> [[RESPValue]]) throws -> [Set<Int64>] {
        guard asks.contains(where: { !$0.isEmpty }) else { return Array(repeating: [], count: asks.count) }
        let answers = try exchange(asks.map { $0.map(\.command) })
        return try asks.indices.map { try TransactionWrite.indexed(asks[$0], replies: answers[$0]) }
    }

    /// A shard's transaction; with nothing to write, `UNWATCH` (its events are answered from the read).
    static func transaction(_ shard: TransactionWrite, _ m: ShardMergeResult, found: TransactionWrite.Found, indexed: Set<Int64>,
                            options: HotTierOptions) throws -> RESPCommand {
        m.writes.isEmpty ? TransactionWrite.unwatch
            : try shard.transaction(merge: m.merge, writes: m.writes, found: found, indexed: indexed, options: options)
    }

    /// The shards whose EXEC failed, and the outcomes of the others' events.
    func interpret(_ shards: [TransactionWrite], _ second: [RESPCommand], _ results: [[RESPValue]],
                   _ merged: [[ApplyOutcome]]) throws -> (again: [ShardWrite], outcomes: [(Int, ApplyOutcome)]) {
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

}
