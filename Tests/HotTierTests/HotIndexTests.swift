import Testing
import StrataCore
import RedisClient
import StrataTesting
@testable import HotTier

/// The hot index in buckets (`HotIndex`): its keys, its reads, and the upgrade from the one
/// sorted set per shard of earlier versions.
@Suite(.serialized) struct HotIndexTests {
    @Test func bucketsAreIDRangesOfAPowerOfTen() {
        #expect(KeyLayout(shards: 32).hotIndexBucketWidth == 1_000)
        #expect(KeyLayout(shards: 1).hotIndexBucketWidth == 10)
        #expect(KeyLayout(shards: 1_024).hotIndexBucketWidth == 10_000)
        let layout = KeyLayout()
        #expect(layout.hotIndexBucket(of: 0) == 0 && layout.hotIndexBucket(of: 999) == 0 && layout.hotIndexBucket(of: 1_000) == 1)
        #expect(layout.hotIndexBucket(of: -1) == -1 && layout.hotIndexBucket(of: -1_000) == -1 && layout.hotIndexBucket(of: -1_001) == -2)
        #expect(layout.hotIndexBucketKey(of: 1_234) == "st:{\(layout.shard(of: 1_234))}:ix:1")
    }

    /// Written through the daemon's path, read back: every id once, scores, the aged ones.
    @Test func theReadsSeeWhatTheWritersIndexed() async throws {
        let redis = try TestRedis(prefix: "hot-index-reads")
        let stream = try GeneratedStream.make(tickets: 2_000, in: redis.dir.path)
        let events = try stream.events()
        let hot = HotTier(pool: redis.pool)
        _ = try await hot.apply(events)
        let layout = hot.options.layout
        let index = HotIndex(pool: redis.pool, layout: layout)
        #expect(try index.inconsistencies() == [])
        let ids = try index.allIDs()
        #expect(ids.count == Set(ids).count, "no id twice")
        #expect(Set(ids) == Set(events.map(\.id)))
        #expect(try await hot.counts().tickets == ids.count)
        // Every ticket's score is at most the hour of its updated_at.
        let updated = Tables.tickets.index(of: "updated_at")!
        let scores = try index.scores(ids: ids)
        var byShard = [Int: [(Int64, Int64)]]()
        for (id, score) in zip(ids, scores) {
            let score = try #require(score)
            if case .integer(let ms) = stream.expected.value(id, updated) { #expect(score <= KeyLayout.hotIndexScore(updatedAtMs: ms)) }
            byShard[layout.shard(of: id), default: []].append((id, score))
        }
        #expect(try index.scores(ids: [-5, 10_000_000]) == [nil, nil])
        // The aged of a shard: exactly those scored before the cutoff, and no more than asked.
        let (shard, entries) = try #require(byShard.max { $0.value.count < $1.value.count })
        let cutoff = entries.map(\.1).sorted()[entries.count / 2]
        let aged = try index.scored(shard: shard, before: cutoff, limit: .max)
        #expect(Set(aged) == Set(entries.filter { $0.1 < cutoff }.map(\.0)))
        #expect(aged.count == Set(aged).count)
        #expect(try index.scored(shard: shard, before: cutoff, limit: 3).count == min(3, aged.count))
        // A limit under the shard's count takes the earliest scores (ties by id); one at or
        // over it reads ids alone, the same set.
        let earliest = entries.filter { $0.1 < cutoff }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }.prefix(5).map(\.0)
        #expect(try index.scored(shard: shard, before: cutoff, limit: 5) == Array(earliest))
        #expect(Set(try index.scored(shard: shard, before: cutoff, limit: entries.count)) == Set(aged))
        #expect(Set(try index.scored(shard: shard, before: cutoff, limit: entries.count - 1)) == Set(aged))
    }

    /// A Redis written by an earlier version: each shard's tickets in one sorted set. The
    /// upgrade moves them into buckets with their scores, keeps a lower score a writer
    /// already put in a bucket, counts each ticket once, and is a no-op when run again.
    @Test func theOneSetPerShardIndexIsMovedIntoBuckets() throws {
        let redis = try TestRedis(prefix: "hot-index-upgrade")
        let layout = KeyLayout()
        var legacy = [Int64: Int64]()
        for id in Int64(1)...3_000 { legacy[id] = 1_700_000_000_000 + (id % 50) * 3_600_000 }
        var commands = [[[UInt8]]]()
        for (id, score) in legacy { commands.append(["ZADD", layout.legacyHotIndex(layout.shard(of: id)), "\(score)", "\(id)"].map { Array($0.utf8) }) }
        // Ticket 7 already in its bucket with a lower score (a writer of this version), 8 with a higher one.
        for (id, score) in [(Int64(7), Int64(1_600_000_000_000)), (8, 1_800_000_000_000)] {
            let s = layout.shard(of: id)
            commands.append(["ZADD", layout.hotIndexBucketKey(of: id), "\(score)", "\(id)"].map { Array($0.utf8) })
            commands.append(["ZADD", layout.hotIndexDirectory(s), "LT", "\(score)", "\(layout.hotIndexBucket(of: id))"].map { Array($0.utf8) })
            commands.append(["INCR", layout.hotIndexCount(s)].map { Array($0.utf8) })
        }
        _ = try redis.pool.pipelineBlocking(commands)
        let index = HotIndex(pool: redis.pool, layout: layout)
        #expect(try index.upgrade() == 3_000)
        #expect(try index.upgrade() == 0, "a second upgrade has nothing to move")
        let legacyLeft = try redis.pool.pipelineBlocking((0..<layout.shards).map { ["EXISTS", layout.legacyHotIndex($0)].map { Array($0.utf8) } })
        #expect(legacyLeft.compactMap(\.int).reduce(0, +) == 0)
        #expect(try index.inconsistencies() == [])
        #expect(try index.counts(shards: Array(0..<layout.shards)).reduce(0, +) == 3_000)
        let ids = Array(legacy.keys)
        var wrong = [Int64]()
        for (id, score) in zip(ids, try index.scores(ids: ids)) {
            let want = id == 7 ? 1_600_000_000_000 : legacy[id]!
            if score != want { wrong.append(id) }
        }
        #expect(wrong == [])
    }

    /// A member that is not an integer (a bucket or an id) is corrupt data: the reads say so
    /// and name the read, they do not skip it.
    @Test func aMemberThatIsNotAnIntegerIsAnError() throws {
        let redis = try TestRedis(prefix: "hot-index-corrupt")
        let layout = KeyLayout()
        _ = try redis.pool.pipelineBlocking([
            ["ZADD", layout.hotIndexBucket(3, bucket: 0), "1700000000000", "not-an-id"],
            ["ZADD", layout.hotIndexDirectory(3), "1700000000000", "0"],
        ].map { $0.map { Array($0.utf8) } })
        let index = HotIndex(pool: redis.pool, layout: layout)
        #expect { try index.ids(shards: [3]) } throws: { "\($0)".contains("ZRANGE of a hot index bucket answered") && "\($0)".contains("not-an-id") }
        #expect { try index.scored(shard: 3, before: 1_800_000_000_000, limit: .max) } throws: { "\($0)".contains("not an integer") }
    }
}
