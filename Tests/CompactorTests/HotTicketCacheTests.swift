import Testing
import HotTier
import Query
import RedisClient
@testable import Tiering
import Compactor

/// The daemon's hot-ticket cache gives the answers of reading Redis whole at each query:
/// while writes go on, after a compaction run, and after Redis loses its data.
@Suite struct HotTicketCacheTests {
    static let queries = [
        "SELECT count(*), sum(version), count(DISTINCT status), sum(reopen_count), min(updated_at), max(updated_at) FROM tickets",
        "SELECT status, count(*), sum(version) FROM tickets GROUP BY status ORDER BY status",
        "SELECT id, status, version, updated_at, agent_id FROM tickets ORDER BY id",
    ]

    func expectSameAnswers(_ f: Fixture, _ cache: HotTicketCache, _ label: String) throws {
        let plain = QueryEngine(source: TieredTableSource(pool: f.pool, layout: KeyLayout(), coldTier: ColdTier(cold: f.cold)))
        let cached = QueryEngine(source: TieredTableSource(pool: f.pool, layout: KeyLayout(), coldTier: ColdTier(cold: f.cold), hotCache: cache))
        for q in Self.queries {
            let want = try plain.execute(q).rows, got = try cached.execute(q).rows
            #expect(got == want, "\(label): \(q)")
        }
    }

    @Test func cachedAnswersFollowWritesCompactionAndALostRedis() async throws {
        let f = try await Fixture(tickets: 600, preload: false)
        let cache = HotTicketCache()
        let events = f.events, half = events.count / 2
        _ = try await f.hot.apply(Array(events[0..<half]))
        try expectSameAnswers(f, cache, "first half")
        #expect(cache.reloads == 1)
        // The rest in small pieces: each query fetches only the tickets that changed.
        var start = half
        while start < events.count {
            let end = min(start + 40, events.count)
            _ = try await f.hot.apply(Array(events[start..<end]))
            try expectSameAnswers(f, cache, "events to \(end)")
            start = end
        }
        #expect(cache.updates > 0)
        #expect(cache.reloads == 1, "nothing was lost: no read of everything again")
        let total = try QueryEngine(source: TieredTableSource(pool: f.pool, layout: KeyLayout(), coldTier: ColdTier(cold: f.cold), hotCache: cache))
            .execute("SELECT count(*) FROM tickets").rows
        #expect(total == [[.int(Int64(f.expected.count))]])
        // Aged tickets move to the cold tier: they leave the cache, and count once.
        let moved = try f.compactor().runOnce(nowMs: Fixture.now)
        #expect(moved.tickets > 0)
        try expectSameAnswers(f, cache, "after compaction")
        // Redis loses everything and the stream arrives again: the cache reads it all again.
        let reloads = cache.reloads
        _ = try f.pool.pipelineBlocking([["FLUSHALL"].map { Array($0.utf8) }])
        try expectSameAnswers(f, cache, "after FLUSHALL")
        _ = try await f.hot.apply(events)
        try expectSameAnswers(f, cache, "after the replay")
        #expect(cache.reloads > reloads)
    }

    /// Redis comes back without its last writes (`appendfsync everysec` and the machine
    /// stopping, or a replica promoted before it had them) and is written to again before
    /// the next query: each log's last id is past the one the cache read, but the entries it
    /// read last are gone. The cache must not keep states Redis no longer has.
    @Test func aRedisThatLostItsLastWritesAndWasWrittenAgainIsReadAgain() async throws {
        let f = try await Fixture(tickets: 300, preload: false, appendFsync: "everysec")
        let cache = HotTicketCache()
        let events = f.events, half = events.count / 2
        _ = try await f.hot.apply(Array(events[0..<half]))
        try expectSameAnswers(f, cache, "first half")
        let copy = try f.copyAppendOnly(as: "aof-at-half")
        _ = try await f.hot.apply(Array(events[half...]))
        try expectSameAnswers(f, cache, "all, before Redis loses the second half")
        let reloads = cache.reloads
        try f.restartRedis(onAppendOnlyCopy: copy)
        // A new ticket on every shard after the restart (their entries' ids are past the lost
        // ones': the clock moved on), so that no log's last id went back.
        try await Task.sleep(for: .milliseconds(5))
        let layout = KeyLayout(), create = try #require(events.first { $0.op == .create })
        let fresh = (0..<layout.shards).map { shard in
            TicketEvent(op: .create, id: (50_000_000...).first { layout.shard(of: $0) == shard }!, writer: "after-restart", vv: [("after-restart", 1)],
                        fields: create.fields, at: create.at)
        }
        #expect(try await f.hot.apply(fresh).allSatisfy { $0 == .accepted })
        try expectSameAnswers(f, cache, "after Redis lost the second half and took writes again")
        #expect(cache.reloads > reloads)
    }
}
