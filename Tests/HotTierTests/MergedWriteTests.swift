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
        try pool.pipelineBlocking((0..<layout.shards).map { ["XLEN", layout.changeLog($0)].map { Array($0.utf8) } }).reduce(0) { $0 + Int($1.int ?? 0) }
    }

    @Test func threeWritersRacingOnTheSameTicketsConvergeAndLogEachEventOnce() async throws {
        let redis = try TestRedis(prefix: "merged-race")
        let stream = try GeneratedStream.make(tickets: 300, shuffle: 0.1, dup: 0.02, concurrent: 0.2, in: redis.dir.path)
        let events = try stream.events()
        var options = HotTierOptions()
        options.layout = KeyLayout(shards: 2)  // few shards: the writers' batches overlap all the time
        let writers = (0..<3).map { _ in HotTier(pool: RedisPool(endpoint: redis.endpoint), options: options) }
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
                    for start in stride(from: 0, to: order.count, by: 40) {
                        n += try await w.apply(Array(order[start..<min(start + 40, order.count)])).filter { $0 == .accepted }.count
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
        let conflicts = writers.reduce(0) { $0 + $1.mergedStats.conflicts.load(ordering: .relaxed) }
        let fallbacks = writers.reduce(0) { $0 + $1.mergedStats.fallbacks.load(ordering: .relaxed) }
        print("MergedWriteTests: \(events.count) events × 3 writers: \(conflicts) conflicts, \(fallbacks) fallbacks to the script")
        #expect(conflicts > 0, "three writers on two shards at once: some batches lost a race")
    }

    /// A ticket that changes between every read and write: after `maxMergedAttempts` rounds
    /// the batch goes through the merge script, which lands it.
    @Test func aBatchThatAlwaysLosesTheRaceFallsBackToTheScript() async throws {
        let redis = try TestRedis(prefix: "merged-fallback")
        let stream = try GeneratedStream.make(tickets: 1, shuffle: 0, dup: 0, concurrent: 0, in: redis.dir.path)
        let events = try stream.events()
        let create = try #require(events.first { $0.op == .create })
        let hot = HotTier(pool: redis.pool), other = HotTier(pool: RedisPool(endpoint: redis.endpoint))
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
        let indexed = try redis.pool.pipelineBlocking([["ZCARD", options.layout.hotIndex(0)].map { Array($0.utf8) }])[0].int
        #expect(indexed == 1200)
        #expect(try await hot.apply(creates).allSatisfy { $0 == .alreadyKnown })
        #expect(try logLength(redis.pool, options.layout) == 1200)
    }

    @Test func aWriterStoppedBetweenItsReadAndItsWriteChangesNothing() async throws {
        let redis = try TestRedis(prefix: "merged-stop")
        let stream = try GeneratedStream.make(tickets: 50, in: redis.dir.path)
        let events = try stream.events()
        let hot = HotTier(pool: redis.pool)
        let half = events.count / 2
        _ = try await hot.apply(Array(events[..<half]))
        let logBefore = try logLength(redis.pool, KeyLayout())
        struct Stopped: Error {}
        hot.betweenReadAndWrite.withLock { $0 = { throw Stopped() } }
        await #expect(throws: Stopped.self) { _ = try await hot.apply(Array(events[half...])) }
        hot.betweenReadAndWrite.withLock { $0 = nil }
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
