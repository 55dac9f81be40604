import Testing
import Synchronization
import StrataCore
import RedisClient
import SystemSupport
import StrataTesting
@testable import HotTier

/// The daemon-side merge (`HotTier.applyMerged`): writers racing on the same tickets, a
/// writer stopped between its read and its write, a conflict forced in between.
@Suite(.serialized) struct MergedWriteTests {
    /// Each distinct event (its dot), as "id|writer|counter".
    func dots(_ events: [TicketEvent]) -> Set<String> {
        Set(events.map { e in "\(e.id)|\(e.writer)|\(e.vv.last { $0.writer == e.writer }!.count)" })
    }

    func logLength(_ pool: RedisPool, _ layout: KeyLayout) throws -> Int {
        try changeLogEventCount(pool, layout)
    }

    /// Three writers on the write script; or (`transaction`) two writing with transactions
    /// (`--write-with transaction`) and one on the script, in batches of 40 (each read to `EXEC`)
    /// and of 300 (merged over a guess while the batch before is written); or (`script-exec`)
    /// two sending each round's write scripts in one `MULTI` … `EXEC` (strict durability,
    /// `writeRoundAsTransaction`) and one sending them as a plain pipeline.
    @Test(arguments: ["script 40", "transaction 40", "transaction 300", "script-exec 40"])
    func threeWritersRacingOnTheSameTicketsConvergeAndLogEachEventOnce(paths: String) async throws {
        let transaction = paths.hasPrefix("transaction"), batch = Int(paths.split(separator: " ")[1])!
        let exec = paths.hasPrefix("script-exec")
        let redis = try TestRedis(prefix: "merged-race")
        let stream = try GeneratedStream.make(tickets: 300, shuffle: 0.1, dup: 0.02, concurrent: 0.2, in: redis.dir.path)
        let events = try stream.events()
        var options = HotTierOptions()
        options.layout = KeyLayout(shards: 2)  // few shards: the writers' batches overlap all the time
        var withTransactions = options
        withTransactions.writeWithTransaction = transaction
        withTransactions.writeRoundAsTransaction = exec
        let writers = [withTransactions, withTransactions, options].map { HotTier(pool: RedisPool(endpoint: redis.endpoint), options: $0) }
        // Every writer sends every event, each in its own order, in batches of 40: a conflict storm.
        var rng = SplitMix64(seed: testSeed("threeWritersRacingOnTheSameTickets"))
        let orders: [[TicketEvent]] = (0..<3).map { _ in
            var copy = events
            for i in stride(from: copy.count - 1, to: 0, by: -1) { copy.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            return copy
        }
        let accepted = try await withThrowingTaskGroup(of: Int.self) { group in
            for (w, order) in zip(writers, orders) {
                group.addTask {
                    var n = 0
                    for start in stride(from: 0, to: order.count, by: batch) {
                        n += try await w.apply(Array(order[start..<min(start + batch, order.count)])).filter { $0 == .accepted }.count
                    }
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(try await stream.expected.hotMismatches(writers[0]).prefix(5) == [])
        // Each distinct event accepted once in all, and logged once.
        let distinct = dots(events).count
        #expect(accepted == distinct)
        #expect(try logLength(redis.pool, options.layout) == distinct)
        // The hot index: every ticket once, its buckets, directory and count agreeing.
        let index = HotIndex(pool: redis.pool, layout: options.layout)
        #expect(try index.inconsistencies() == [])
        #expect(try index.counts(shards: [0, 1]).reduce(0, +) == Set(events.map(\.id)).count)
        let conflicts = writers.reduce(0) { $0 + $1.mergedStats.conflicts.load(ordering: .relaxed) }
        let fallbacks = writers.reduce(0) { $0 + $1.mergedStats.fallbacks.load(ordering: .relaxed) }
        let missed = writers.reduce(0) { $0 + $1.mergedStats.guessesMissed.load(ordering: .relaxed) }
        print("MergedWriteTests (\(paths)): \(events.count) events × 3 writers: \(conflicts) conflicts, \(fallbacks) fallbacks to the script, \(missed) guesses missed")
        #expect(conflicts > 0, "three writers on two shards at once: some batches lost a race")
        for w in writers { #expect(w.links?.counts.out ?? 0 == 0, "every link checked in") }
        if exec {
            // The two writers' write rounds, each one EXEC (their conflicts are read again).
            let stats = try await redis.pool.command(["INFO", "commandstats"]).string ?? ""
            let execs = stats.split(separator: "\r\n").first { $0.hasPrefix("cmdstat_exec:") }
            #expect(execs != nil, "no EXEC: the rounds went as plain pipelines")
        }
    }

    /// A ticket that changes between every read and write: after `maxMergedAttempts` rounds
    /// the batch goes through the merge script, which lands it.
    /// On both ways of writing the merge: the write script's compare, and (`transaction`) an
    /// `EXEC` that a watched key's change fails.
    @Test(arguments: [false, true]) func aBatchThatAlwaysLosesTheRaceFallsBackToTheScript(transaction: Bool) async throws {
        let redis = try TestRedis(prefix: "merged-fallback")
        let stream = try GeneratedStream.make(tickets: 1, shuffle: 0, dup: 0, concurrent: 0, in: redis.dir.path)
        let events = try stream.events()
        let create = try #require(events.first { $0.op == .create })
        var options = HotTierOptions()
        options.writeWithTransaction = transaction
        let hot = HotTier(pool: redis.pool, options: options), other = HotTier(pool: RedisPool(endpoint: redis.endpoint))
        _ = try await hot.apply([create])
        let c = Tables.tickets.index(of: "subject")!
        let rounds = Mutex(0)
        hot.betweenReadAndWrite.withLock { $0 = {
            // Another writer changes the ticket every time, each with a new dot.
            let k = rounds.withLock { $0 += 1; return $0 }
            _ = try await other.apply([TicketEvent(op: .patch, id: create.id, writer: "racer", vv: [("racer", Int64(k))],
                                                   fields: [(c, .string("race \(k)"))], at: create.at + Int64(k))])
        } }
        let mine = TicketEvent(op: .patch, id: create.id, writer: "agent", vv: [("agent", 1)], fields: [(Tables.tickets.index(of: "agent_id")!, .integer(3))], at: create.at + 100)
        #expect(try await hot.apply([mine]) == [.accepted])
        #expect(rounds.withLock { $0 } == HotTier.maxMergedAttempts)
        #expect(hot.mergedStats.conflicts.load(ordering: .relaxed) == HotTier.maxMergedAttempts)
        #expect(hot.mergedStats.fallbacks.load(ordering: .relaxed) == 1)
        let t = try #require(try await hot.ticket(create.id))
        #expect(t.values[Tables.tickets.index(of: "agent_id")!] == .integer(3) && t.values[c] == .string("race \(HotTier.maxMergedAttempts)"))
        #expect(try logLength(redis.pool, KeyLayout()) == 2 + HotTier.maxMergedAttempts)
    }

    /// A ticket created here that this daemon has not read is merged as absent, without a read,
    /// when the shard's moved count is known; the write then compares that count. A ticket
    /// that was hot at the merge and left Redis before the write (the compactor's delete, one
    /// call with the count's `INCR`) makes the write fail, and the shard is read again: a
    /// duplicate create must not land on the gap as if the ticket were new.
    @Test func aTicketMergedAsAbsentThatLeftRedisMeanwhileIsReadAgain() async throws {
        let redis = try TestRedis(prefix: "merged-unread")
        let at = Timestamp.parse("2026-10-01T10:00:00Z")!
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        let layout = KeyLayout()
        let x: Int64 = 7, y = (Int64(8)...).first { layout.shard(of: $0) == layout.shard(of: 7) }!
        func create(_ id: Int64, writer: String) -> TicketEvent {
            TicketEvent(op: .create, id: id, writer: writer, vv: [(writer, 1)],
                        fields: [(c("created_at"), .integer(at)), (c("updated_at"), .integer(at)), (c("status"), .string("new"))], at: at)
        }
        // Another daemon creates x; this one learns the shard's moved count by reading it.
        let hot = HotTier(pool: redis.pool), other = HotTier(pool: RedisPool(endpoint: redis.endpoint))
        #expect(try await other.apply([create(x, writer: "svc-2")]) == [.accepted])
        // (A ticket of another shard first: the write script is loaded.)
        let w = (Int64(100)...).first { layout.shard(of: $0) != layout.shard(of: 7) }!
        #expect(try await hot.apply([create(w, writer: "svc")]) == [.accepted])
        var trips = redis.pool.stats.roundTrips.load(ordering: .relaxed)
        #expect(try await hot.apply([create(y, writer: "svc")]) == [.accepted])
        #expect(redis.pool.stats.roundTrips.load(ordering: .relaxed) - trips == 2, "a read (with the moved count) and a write")
        // x's create again, from this daemon: merged as absent (not read); before the write,
        // x leaves Redis as the compactor's delete makes it leave.
        let fired = Mutex(false)
        let pool = redis.pool
        hot.betweenReadAndWrite.withLock { $0 = {
            guard fired.withLock({ let was = $0; $0 = true; return !was }) else { return }
            _ = try await pool.command(["EVAL", "redis.call('DEL', KEYS[1]); return redis.call('INCR', KEYS[2])", "2",
                                        layout.ticket(x), layout.movedCount(layout.shard(of: x))])
        } }
        trips = redis.pool.stats.roundTrips.load(ordering: .relaxed)
        _ = try await hot.apply([create(x, writer: "svc-2")])
        #expect(hot.mergedStats.conflicts.load(ordering: .relaxed) == 1, "the write compared the moved count and failed")
        // 1 write refused (no read before it), then the hook's call, a read and a write.
        #expect(redis.pool.stats.roundTrips.load(ordering: .relaxed) - trips == 4)
        // Known again: a new ticket of the shard is one round trip.
        let z = ((y + 1)...).first { layout.shard(of: $0) == layout.shard(of: 7) }!
        hot.betweenReadAndWrite.withLock { $0 = nil }
        trips = redis.pool.stats.roundTrips.load(ordering: .relaxed)
        #expect(try await hot.apply([create(z, writer: "svc")]) == [.accepted])
        #expect(redis.pool.stats.roundTrips.load(ordering: .relaxed) - trips == 1)
    }

    /// One shard's batch of more tickets than the write script reads or writes at once (500).
    @Test func aBatchOfManyTicketsOnOneShardIsWrittenInChunks() async throws {
        let redis = try TestRedis(prefix: "merged-chunks")
        let stream = try GeneratedStream.make(tickets: 1200, shuffle: 0, dup: 0, concurrent: 0, in: redis.dir.path)
        let creates = try stream.events().filter { $0.op == .create }
        #expect(creates.count == 1200)
        var options = HotTierOptions()
        options.layout = KeyLayout(shards: 1)
        let hot = HotTier(pool: redis.pool, options: options)
        #expect(try await hot.apply(creates).allSatisfy { $0 == .accepted })
        #expect(hot.mergedStats.writes.load(ordering: .relaxed) == 1, "one shard, one write call")
        let index = HotIndex(pool: redis.pool, layout: options.layout)
        #expect(try index.counts(shards: [0]) == [1200])
        #expect(Set(try index.allIDs()) == Set(creates.map(\.id)))
        #expect(try index.inconsistencies() == [])
        #expect(try await hot.apply(creates).allSatisfy { $0 == .alreadyKnown })
        #expect(try logLength(redis.pool, options.layout) == 1200)
    }

    /// On both ways of writing the merge; a transaction writer's links, which hold WATCHes
    /// when it stops, are closed, not reused.
    @Test(arguments: [false, true]) func aWriterStoppedBetweenItsReadAndItsWriteChangesNothing(transaction: Bool) async throws {
        let redis = try TestRedis(prefix: "merged-stop")
        let stream = try GeneratedStream.make(tickets: 50, in: redis.dir.path)
        let events = try stream.events()
        var options = HotTierOptions()
        options.writeWithTransaction = transaction
        let hot = HotTier(pool: redis.pool, options: options)
        let half = events.count / 2
        _ = try await hot.apply(Array(events[..<half]))
        let logBefore = try logLength(redis.pool, KeyLayout())
        struct Stopped: Error {}
        hot.betweenReadAndWrite.withLock { $0 = { throw Stopped() } }
        await #expect(throws: Stopped.self) { _ = try await hot.apply(Array(events[half...])) }
        hot.betweenReadAndWrite.withLock { $0 = nil }
        #expect(hot.links?.counts.out ?? 0 == 0)
        // Nothing of the stopped batch reached Redis (the ticket service retries it).
        #expect(try logLength(redis.pool, KeyLayout()) == logBefore)
        _ = try await hot.apply(Array(events[half...]))
        #expect(try await stream.expected.hotMismatches(hot).prefix(5) == [])
        #expect(try logLength(redis.pool, KeyLayout()) == dots(events).count)
    }

    @Test func aTicketChangedBetweenReadAndWriteIsReadAndMergedAgain() async throws {
        let redis = try TestRedis(prefix: "merged-conflict")
        let at = Timestamp.parse("2026-10-01T10:00:00Z")!
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        let create = TicketEvent(op: .create, id: 7, writer: "svc-1", vv: [("svc-1", 1)],
                                 fields: [(c("created_at"), .integer(at)), (c("updated_at"), .integer(at)), (c("status"), .string("new")),
                                          (c("priority"), .string("high")), (c("channel"), .string("email")), (c("queue"), .string("billing")),
                                          (c("customer_id"), .integer(9)), (c("subject"), .string("x")), (c("tags"), .string("")), (c("reopen_count"), .integer(0))], at: at)
        let mine = TicketEvent(op: .patch, id: 7, writer: "agent", vv: [("svc-1", 1), ("agent", 1)], fields: [(c("agent_id"), .integer(4))], at: at + 1000)
        let theirs = TicketEvent(op: .patch, id: 7, writer: "customer", vv: [("svc-1", 1), ("customer", 1)], fields: [(c("satisfaction"), .integer(5))], at: at + 2000)
        let hot = HotTier(pool: redis.pool), other = HotTier(pool: RedisPool(endpoint: redis.endpoint))
        _ = try await hot.apply([create])
        // Another writer changes the ticket after this one read it, once.
        let once = Mutex(true)
        let theirOutcome = Mutex<[ApplyOutcome]>([])
        hot.betweenReadAndWrite.withLock { $0 = {
            guard once.withLock({ let first = $0; $0 = false; return first }) else { return }
            let o = try await other.apply([theirs])
            theirOutcome.withLock { $0 = o }
        } }
        #expect(try await hot.apply([mine]) == [.accepted])
        #expect(theirOutcome.withLock { $0 } == [.accepted])
        #expect(hot.mergedStats.conflicts.load(ordering: .relaxed) == 1)
        let t = try #require(try await hot.ticket(7))
        #expect(t.values[c("agent_id")] == .integer(4) && t.values[c("satisfaction")] == .integer(5))
        #expect(Set(t.vv.map(\.writer)) == ["svc-1", "agent", "customer"])
        #expect(try logLength(redis.pool, KeyLayout()) == 3)
    }
}

/// Group commit (`WriteBatcher`): concurrent callers share rounds, each gets its own outcomes.
@Suite(.serialized) struct WriteBatcherTests {
    @Test func concurrentCallersShareRoundsAndEachGetsItsOwnOutcomes() async throws {
        let redis = try TestRedis(prefix: "batcher")
        let stream = try GeneratedStream.make(tickets: 400, shuffle: 0.05, dup: 0.05, in: redis.dir.path)
        let events = try stream.events()
        let hot = HotTier(pool: redis.pool)
        let batcher = WriteBatcher(hot: hot, cold: nil, maxEvents: 500, roundsInFlight: 2)
        // Callers of 1 to 60 events, all at once; every event is sent twice, by two callers.
        var rng = SplitMix64(seed: testSeed("concurrentCallersShareRounds"))
        var calls = [[Int]]()
        for _ in 0..<2 {
            var i = 0
            while i < events.count {
                let n = 1 + Int(rng.next() % 60)
                calls.append(Array(i..<min(i + n, events.count)))
                i += n
            }
        }
        let results = try await withThrowingTaskGroup(of: (Int, [ApplyOutcome]).self) { group in
            for (k, call) in calls.enumerated() {
                group.addTask { (k, try await batcher.apply(call.map { events[$0] })) }
            }
            var out = [[ApplyOutcome]](repeating: [], count: calls.count)
            for try await (k, o) in group { out[k] = o }
            return out
        }
        // One outcome per event of each caller; each distinct event accepted once in all.
        for (call, outcomes) in zip(calls, results) { #expect(outcomes.count == call.count) }
        let accepted = results.joined().filter { $0 == .accepted }.count
        let distinct = Set(events.map { e in "\(e.id)|\(e.writer)|\(e.vv.last { $0.writer == e.writer }!.count)" }).count
        #expect(accepted == distinct)
        #expect(try await stream.expected.hotMismatches(hot).prefix(5) == [])
        let stats = batcher.stats
        #expect(stats.events == 2 * events.count && stats.callers == calls.count)
        #expect(stats.rounds < calls.count, "\(stats.rounds) rounds for \(calls.count) callers: concurrent callers shared none")
        #expect(stats.events <= stats.rounds * 500 + calls.count * 60, "rounds stay near their cap")
        print("WriteBatcherTests: \(calls.count) callers in \(stats.rounds) rounds")
    }

    /// A round's callers leave the queue when the round takes them: under steady load the
    /// queue is never empty, and callers kept in it after their round (each holding its
    /// request's events) once grew the daemon to 200 MB.
    @Test func aRoundsCallersLeaveTheQueueWhenTheRoundTakesThem() async throws {
        let redis = try TestRedis(prefix: "batcher-queue")
        let hot = HotTier(pool: redis.pool)
        let batcher = WriteBatcher(hot: hot, cold: nil, maxEvents: 1, roundsInFlight: 1)
        let gate = Atomic<Bool>(false), entered = Atomic<Int>(0)
        hot.betweenReadAndWrite.withLock { $0 = {
            entered.add(1, ordering: .relaxed)
            while !gate.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(1)) }
        } }
        func event(_ id: Int64) -> TicketEvent {
            TicketEvent(op: .create, id: id, writer: "svc", vv: [("svc", 1)], fields: [(6, .string("new")), (2, .integer(1000))], at: 1000)
        }
        func waitFor(_ what: String, _ done: () -> Bool) async throws {
            let deadline = monotonicSeconds() + 10
            while !done() {
                guard monotonicSeconds() < deadline else { Issue.record("timed out waiting for \(what)"); return }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        let first = Task { try await batcher.apply([event(1)]) }
        try await waitFor("the first round") { entered.load(ordering: .relaxed) == 1 }
        let rest = [Task { try await batcher.apply([event(2)]) }, Task { try await batcher.apply([event(3)]) }]
        try await waitFor("two queued callers") { batcher.queuedEvents >= 2 }
        // The first round is still running (held in the hook): its caller is no longer queued.
        #expect(batcher.queuedEvents == 2)
        gate.store(true, ordering: .relaxed)
        for t in [first] + rest { #expect(try await t.value == [.accepted]) }
        #expect(batcher.queuedEvents == 0)
        #expect(batcher.stats.rounds == 3)
    }

    @Test func aFailedRoundFailsEachOfItsCallersAndTheNextRoundWorks() async throws {
        let redis = try TestRedis(prefix: "batcher-fail")
        let hot = HotTier(pool: redis.pool)
        let batcher = WriteBatcher(hot: hot, cold: nil)
        let e = TicketEvent(op: .create, id: 1, writer: "svc", vv: [("svc", 1)], fields: [(6, .string("new")), (2, .integer(1000))], at: 1000)
        // Redis refuses every write while it lacks a replica: the round fails, and each of
        // its callers gets the error (none is told its events were applied).
        _ = try await redis.pool.command(["CONFIG", "SET", "min-replicas-to-write", "1"])
        var e2 = e
        e2.id = 2
        let failures = await withTaskGroup(of: Bool.self) { group in
            for event in [e, e2] {
                group.addTask { (try? await batcher.apply([event])) == nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 2, "both callers were told their round failed")
        let one = try await hot.ticket(1), two = try await hot.ticket(2)
        #expect(one == nil && two == nil)
        _ = try await redis.pool.command(["CONFIG", "SET", "min-replicas-to-write", "0"])
        #expect(try await batcher.apply([e]) == [.accepted])
        #expect(batcher.stats.rounds >= 2)
    }
}

/// Tickets written a moment ago (`WrittenTickets`): merged over from memory, never trusted.
@Suite(.serialized) struct WrittenTicketsTests {
    static func c(_ name: String) -> Int { Tables.tickets.index(of: name)! }
    func create(_ id: Int64, at: Int64 = 1_000) -> TicketEvent {
        TicketEvent(op: .create, id: id, writer: "svc", vv: [("svc", 1)],
                    fields: [(Self.c("created_at"), .integer(at)), (Self.c("updated_at"), .integer(at)), (Self.c("status"), .string("new")),
                             (Self.c("channel"), .string("email")), (Self.c("priority"), .string("low")), (Self.c("queue"), .string("q")),
                             (Self.c("customer_id"), .integer(1)), (Self.c("subject"), .string("s")), (Self.c("tags"), .string("")),
                             (Self.c("reopen_count"), .integer(0))], at: at)
    }
    func patch(_ id: Int64, _ n: Int64, status: String) -> TicketEvent {
        TicketEvent(op: .patch, id: id, writer: "agent", vv: [("svc", 1), ("agent", n)],
                    fields: [(Self.c("status"), .string(status)), (Self.c("updated_at"), .integer(1_000 + n))], at: 1_000 + n)
    }

    @Test func aPatchOfATicketJustWrittenIsMergedWithoutReadingIt() async throws {
        let redis = try TestRedis(prefix: "written")
        let hot = HotTier(pool: redis.pool)
        #expect(try await hot.apply((1...100).map { create($0) }).allSatisfy { $0 == .accepted })
        let before = hot.written.counts
        #expect(try await hot.apply((1...100).map { patch($0, 1, status: "open") }).allSatisfy { $0 == .accepted })
        let after = hot.written.counts
        #expect(after.hits - before.hits == 100 && after.misses == before.misses, "\(before) → \(after)")
        #expect(try await hot.ticket(7)?.values[Self.c("status")] == .string("open"))
    }

    @Test func aTicketChangedByAnotherWriterIsReadAgainAndMergedRight() async throws {
        let redis = try TestRedis(prefix: "written-other")
        let mine = HotTier(pool: redis.pool), other = HotTier(pool: RedisPool(endpoint: redis.endpoint))
        _ = try await mine.apply([create(1)])
        // Another daemon moves the ticket on; this one still remembers the create.
        #expect(try await other.apply([patch(1, 1, status: "open")]) == [.accepted])
        let conflicts = mine.mergedStats.conflicts.load(ordering: .relaxed)
        #expect(try await mine.apply([patch(1, 2, status: "pending"), patch(1, 1, status: "open")]) == [.accepted, .alreadyKnown])
        #expect(mine.mergedStats.conflicts.load(ordering: .relaxed) == conflicts + 1)
        let t = try #require(try await mine.ticket(1))
        #expect(t.values[Self.c("status")] == .string("pending"))
        #expect(t.vv.first { $0.writer == "agent" }?.count == 2)
    }

    /// A repeat answered from memory alone could be wrong (Redis lost the ticket, say after a
    /// restart without its last second): the ticket it rests on is compared first.
    @Test func aRepeatIsNotAnsweredFromMemoryAlone() async throws {
        let redis = try TestRedis(prefix: "written-lost")
        let hot = HotTier(pool: redis.pool)
        let e = create(5)
        #expect(try await hot.apply([e]) == [.accepted])
        _ = try await redis.pool.command(["DEL", hot.options.layout.ticket(5)])
        // Memory says "seen"; Redis has nothing: the event is applied again, as without memory.
        #expect(try await hot.apply([e]) == [.accepted])
        #expect(try await hot.ticket(5) != nil)
        // And a repeat beside a change on another ticket of the same shard: compared, not trusted.
        let shard = hot.options.layout.shard(of: 5)
        let neighbour = (6...10_000).first { hot.options.layout.shard(of: Int64($0)) == shard }!
        _ = try await redis.pool.command(["DEL", hot.options.layout.ticket(5)])
        #expect(try await hot.apply([e, create(Int64(neighbour))]) == [.accepted, .accepted])
        #expect(try await hot.ticket(5) != nil)
    }
}

/// The limits of the write path's memory and rounds.
@Suite(.serialized) struct WritePathLimitTests {
    @Test func writtenTicketsKeepAtMostTheirCapacityOldestOut() {
        let w = WrittenTickets(capacity: 4)
        w.store((1...10).map { (Int64($0), [UInt8(truncatingIfNeeded: $0)]) })
        #expect(w.count == 4)
        #expect(w.lookup([1, 6, 7, 10]) == [7: [7], 10: [10]])
        w.store([(7, [70])])  // a newer write of a kept ticket replaces it and is kept longest
        w.store([(11, [11]), (12, [12]), (13, [13])])
        #expect(w.count == 4 && w.lookup([7])[7] == [70])
        w.drop([7])
        #expect(w.lookup([7]).isEmpty)
        let none = WrittenTickets(capacity: 0)
        none.store([(1, [1])])
        #expect(none.count == 0 && none.lookup([1]).isEmpty)
    }

    /// A working set under capacity, written again and again: nothing is evicted, and the
    /// eviction queue once kept a pair per write.
    @Test func writtenTicketsQueueStaysBoundedWhenTheSameTicketsAreWrittenAgain() {
        let w = WrittenTickets(capacity: 1000)
        for round in 0..<200 {
            w.store((1...100).map { (Int64($0), [UInt8(truncatingIfNeeded: round)]) })
        }
        #expect(w.count == 100)
        #expect(w.queued <= 2 * 100 + 1024 + 100, "\(w.queued) pairs queued for 100 tickets after 20,000 writes")
        #expect(w.lookup([1, 100]) == [1: [199], 100: [199]])
        // Eviction still goes oldest first after the queue was rebuilt.
        let full = WrittenTickets(capacity: 3)
        for _ in 0..<3000 { full.store([(1, [1]), (2, [2])]) }
        full.store([(3, [3]), (4, [4])])
        #expect(full.count == 3 && full.lookup([1, 2, 3, 4]) == [2: [2], 3: [3], 4: [4]])
    }

    @Test func aCallerOverTheRoundCapGetsARoundOfItsOwn() async throws {
        let redis = try TestRedis(prefix: "batcher-cap")
        let hot = HotTier(pool: redis.pool)
        let batcher = WriteBatcher(hot: hot, cold: nil, maxEvents: 10, roundsInFlight: 1)
        func create(_ id: Int64) -> TicketEvent {
            TicketEvent(op: .create, id: id, writer: "svc", vv: [("svc", 1)], fields: [(6, .string("new")), (2, .integer(1000))], at: 1000)
        }
        let big = (1...25).map { create(Int64($0)) }
        #expect(try await batcher.apply(big).allSatisfy { $0 == .accepted })
        #expect(batcher.stats.rounds == 1 && batcher.stats.events == 25, "never split")
        // Callers of 6 events at once: no round holds more than 10, so each holds one.
        let outcomes = try await withThrowingTaskGroup(of: [ApplyOutcome].self) { group in
            for k in 0..<4 { group.addTask { try await batcher.apply((0..<6).map { create(Int64(100 + 6 * k + $0)) }) } }
            return try await group.reduce(into: [ApplyOutcome]()) { $0 += $1 }
        }
        #expect(outcomes.count == 24 && outcomes.allSatisfy { $0 == .accepted })
        #expect(batcher.stats.rounds == 5 && batcher.stats.callers == 5)
    }
}
