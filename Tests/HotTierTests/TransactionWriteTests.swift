import Testing
import Foundation
import Synchronization
import StrataCore
import RedisClient
import SystemSupport
import StrataTesting
@testable import HotTier

/// Every key of a Redis database as comparable text: strings as their bytes, hashes, sets and
/// zsets as sorted members, streams as their entries' change-log lines sorted (entry ids are
/// times), and whether the key expires.
func dumpKeys(_ pool: RedisPool) async throws -> [String: String] {
    let keys = try await pool.command(["KEYS", "*"]).array!.map { $0.string! }
    var out = [String: String]()
    for key in keys {
        let type = try await pool.command(["TYPE", key]).string!
        let ttl = try await pool.command(["PTTL", key]).int! >= 0 ? " (expires)" : ""
        switch type {
        case "string":
            let v = try await pool.pipeline([[Array("GET".utf8), Array(key.utf8)]])[0]
            guard case .bulk(let b) = v else { out[key] = "\(v)"; continue }
            out[key] = b.map { String(format: "%02x", $0) }.joined() + ttl
        case "hash":
            let h = try await pool.command(["HGETALL", key]).array!.map { $0.string! }
            out[key] = stride(from: 0, to: h.count, by: 2).map { "\(h[$0])=\(h[$0 + 1])" }.sorted().joined(separator: ",") + ttl
        case "zset":
            let z = try await pool.command(["ZRANGE", key, "0", "-1", "WITHSCORES"]).array!.map { $0.string! }
            out[key] = stride(from: 0, to: z.count, by: 2).map { "\(z[$0])@\(z[$0 + 1])" }.sorted().joined(separator: ",") + ttl
        case "set":
            out[key] = try await pool.command(["SMEMBERS", key]).array!.map { $0.string! }.sorted().joined(separator: ",") + ttl
        case "stream":
            let entries = try await pool.command(["XRANGE", key, "-", "+"]).array!
            var lines = [String]()
            for e in entries {
                let fields = e.array![1].array!
                for i in stride(from: 0, to: fields.count, by: 2) { lines += fields[i + 1].string!.split(separator: "\n").map(String.init) }
            }
            out[key] = lines.sorted().joined(separator: "\n") + ttl
        default:
            out[key] = "type \(type)"
        }
    }
    return out
}

/// The transaction write path (`HotTier.applyTransactional`): the same Redis as the write
/// script leaves, a conflict between its read and its `EXEC`, a stale guess, a Redis restart.
/// (Writers racing, the fallback and a stopped writer: `MergedWriteTests`, on both paths.)
@Suite(.serialized) struct TransactionWriteTests {
    static func options() -> HotTierOptions {
        var o = HotTierOptions()
        o.writeWithTransaction = true
        return o
    }

    /// Key by key and byte by byte, what the transaction path leaves is what the write script
    /// leaves: tickets, change log, hot index (buckets, directory, count), incomplete set,
    /// hour keys and hour index, and minute keys (a stream ending now) with the open minutes.
    /// Calls of 97 events (one transaction each, read to `EXEC`) and of 1,000 (merged over a
    /// guess while the call before is written: `speculativeAttempt`).
    @Test(arguments: ["history 97", "recent 97", "history 1000", "recent 1000"])
    func theTransactionPathLeavesWhatTheWriteScriptLeaves(stream kind: String) async throws {
        let recent = kind.hasPrefix("recent"), batch = Int(kind.split(separator: " ")[1])!
        let script = try TestRedis(prefix: "tx-same-script"), tx = try TestRedis(prefix: "tx-same-tx")
        let w = try GeneratedStream.make(tickets: 3000, shuffle: 0.05, dup: 0.02, in: script.dir.path)
        var events = try w.events()
        if recent {
            // Moved to end an hour ago: the last two days count in minutes.
            let shift = wallClockMilliseconds() - 3_600_000 - events.map(\.at).max()!
            events = events.map { e in
                TicketEvent(op: e.op, id: e.id, writer: e.writer, vv: e.vv, fields: e.fields, at: e.at + shift)
            }
        }
        let byScript = HotTier(pool: script.pool), byTransaction = HotTier(pool: tx.pool, options: Self.options())
        let a = try await replay(byScript, events, batch: batch), b = try await replay(byTransaction, events, batch: batch)
        #expect(a == b && a > 0)
        #expect(byTransaction.mergedStats.writes.load(ordering: .relaxed) > 0)
        #expect(byTransaction.mergedStats.conflicts.load(ordering: .relaxed) == 0)
        let left = try await dumpKeys(script.pool), right = try await dumpKeys(tx.pool)
        #expect(left.count > 1000)
        if recent { #expect(left.keys.contains { $0.contains(":m:") }, "minute keys") }
        let differing = Set(left.keys).union(right.keys).filter { left[$0] != right[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.count) keys differ, first \(differing.prefix(3).map { "\($0): \(left[$0]?.prefix(200) ?? "none") vs \(right[$0]?.prefix(200) ?? "none")" })")
        #expect(try HotIndex(pool: tx.pool, layout: byTransaction.options.layout).inconsistencies() == [])
        #expect(byTransaction.links!.counts.out == 0, "every link checked in")
    }

    /// Another writer changes the ticket between the read and the EXEC, once: the EXEC fails,
    /// nothing of it is written, and the ticket is read and merged again.
    @Test func aTicketChangedBetweenTheReadAndTheExecIsReadAndMergedAgain() async throws {
        let redis = try TestRedis(prefix: "tx-conflict")
        let stream = try GeneratedStream.make(tickets: 1, shuffle: 0, dup: 0, concurrent: 0, in: redis.dir.path)
        let create = try #require(try stream.events().first { $0.op == .create })
        let hot = HotTier(pool: redis.pool, options: Self.options()), other = HotTier(pool: RedisPool(endpoint: redis.endpoint))
        #expect(try await hot.apply([create]) == [.accepted])
        let c = Tables.tickets.index(of: "subject")!, agent = Tables.tickets.index(of: "agent_id")!
        let once = Mutex(true)
        hot.betweenReadAndWrite.withLock { $0 = {
            guard once.withLock({ let first = $0; $0 = false; return first }) else { return }
            _ = try await other.apply([TicketEvent(op: .patch, id: create.id, writer: "zz-racer", vv: [("zz-racer", 1)], fields: [(c, .string("theirs"))], at: create.at + 1)])
        } }
        let mine = TicketEvent(op: .patch, id: create.id, writer: "agent", vv: [("agent", 1)], fields: [(agent, .integer(3))], at: create.at + 100)
        #expect(try await hot.apply([mine]) == [.accepted])
        #expect(hot.mergedStats.conflicts.load(ordering: .relaxed) == 1)
        let t = try #require(try await hot.ticket(create.id))
        #expect(t.values[agent] == .integer(3) && t.values[c] == .string("theirs"), "\(t.values[c]), vv \(t.vv)")
        #expect(try changeLogEventCount(redis.pool, KeyLayout()) == 3)
        #expect(hot.links!.counts.out == 0)
    }

    /// Redis restarted under idle links: the round that finds them broken reads again on new
    /// ones (its reads write nothing) and lands; the broken idle links are all dropped.
    @Test func linksBrokenByARedisRestartAreDroppedAndMadeAgain() async throws {
        let redis = try TestRedis(prefix: "tx-restart")
        let stream = try GeneratedStream.make(tickets: 40, in: redis.dir.path)
        let events = try stream.events()
        let hot = HotTier(pool: redis.pool, options: Self.options())
        _ = try await hot.apply(Array(events.prefix(20)))
        #expect(hot.links!.counts.idle > 0)
        _ = redis.server.stop()
        try redis.server.restart()
        var failures = 0
        for _ in 0..<3 {
            // Every event: the restarted server may have lost the first ones (no persistence here).
            do { _ = try await hot.apply(events); break } catch { failures += 1 }
        }
        #expect(failures == 0)
        #expect(hot.links!.counts.out == 0)
        #expect(try await stream.expected.hotMismatches(hot).prefix(5) == [], "after \(failures) failures")
    }

    /// A transaction makes an hour key it found absent with one `HSET`. Another writer that
    /// makes the same key between the read and the `EXEC` (it indexes the hour in the same
    /// call) fails the `EXEC`, which watches the hour index: read again, the key is raised
    /// with `HINCRBY`, and both counts stay (an `HSET` over it would have kept one).
    @Test func anHourKeyMadeBetweenTheReadAndTheExecFailsTheExec() async throws {
        let redis = try TestRedis(prefix: "tx-hour")
        let hot = HotTier(pool: redis.pool, options: Self.options()), other = HotTier(pool: RedisPool(endpoint: redis.endpoint))
        let layout = hot.options.layout
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        let hour: Int64 = 3_600_000
        let at = floorDiv(wallClockMilliseconds(), hour) * hour - 100 * hour + 60_000  // past the minute retention
        let ids = Array((Int64(1)...Int64(10_000)).filter { layout.shard(of: $0) == layout.shard(of: 1) }.prefix(2))
        func create(_ id: Int64, writer: String) -> TicketEvent {
            TicketEvent(op: .create, id: id, writer: writer, vv: [(writer, 1)],
                        fields: [(c("created_at"), .integer(at)), (c("updated_at"), .integer(at)), (c("status"), .string("new")),
                                 (c("channel"), .string("email")), (c("priority"), .string("low")), (c("queue"), .string("q"))], at: at)
        }
        let once = Mutex(true)
        let theirs = create(ids[1], writer: "svc-2")
        let theirOutcome = Mutex<[ApplyOutcome]>([])
        hot.betweenReadAndWrite.withLock { $0 = {
            guard once.withLock({ let first = $0; $0 = false; return first }) else { return }
            let o = try await other.apply([theirs])
            theirOutcome.withLock { $0 = o }
        } }
        #expect(try await hot.apply([create(ids[0], writer: "svc")]) == [.accepted])
        #expect(theirOutcome.withLock { $0 } == [.accepted])
        #expect(hot.mergedStats.conflicts.load(ordering: .relaxed) == 1, "the hour index changed under the watch")
        let key = layout.hourMetrics(layout.shard(of: 1), hour: floorDiv(at, hour))
        #expect(try await redis.pool.command(["HGET", key, "created:email:low:q"]).int == 2)
        try await expectHourIndexesMatchTheHourKeys(redis.pool, layout)
    }


    /// A large round merges over what this daemon wrote last (a guess). Another writer changes
    /// one of those tickets in between: the watched read finds it changed, that shard is merged
    /// again (`guessesMissed`), and both writers' changes hold.
    @Test func aLargeRoundWhoseGuessIsStaleIsMergedAgain() async throws {
        let redis = try TestRedis(prefix: "tx-guess")
        let stream = try GeneratedStream.make(tickets: 400, shuffle: 0, dup: 0, concurrent: 0, in: redis.dir.path)
        let creates = try stream.events().filter { $0.op == .create }
        #expect(creates.count == 400)
        let hot = HotTier(pool: redis.pool, options: Self.options()), other = HotTier(pool: RedisPool(endpoint: redis.endpoint))
        #expect(try await hot.apply(creates).allSatisfy { $0 == .accepted })
        let agent = Tables.tickets.index(of: "agent_id")!, subject = Tables.tickets.index(of: "subject")!
        let target = creates[7]
        #expect(try await other.apply([TicketEvent(op: .patch, id: target.id, writer: "zz-other", vv: [("zz-other", 1)],
                                                   fields: [(subject, .string("theirs"))], at: target.at + 1)]) == [.accepted])
        let patches = creates.map { c in
            TicketEvent(op: .patch, id: c.id, writer: "agent", vv: [("agent", 1)], fields: [(agent, .integer(5))], at: c.at + 2)
        }
        #expect(try await hot.apply(patches).allSatisfy { $0 == .accepted })
        #expect(hot.mergedStats.guessesMissed.load(ordering: .relaxed) == 1, "one shard's guess was stale")
        #expect(hot.mergedStats.conflicts.load(ordering: .relaxed) == 0)
        let t = try #require(try await hot.ticket(target.id))
        #expect(t.values[agent] == .integer(5) && t.values[subject] == .string("theirs"))
        #expect(try changeLogEventCount(redis.pool, KeyLayout()) == 801)
        #expect(hot.links!.counts.out == 0)
    }

}
