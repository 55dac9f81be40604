import Testing
import StrataCore
import RedisClient
import SystemSupport
import StrataTesting
import Workload
@testable import HotTier


/// Applies events in batches, in order; returns how many were accepted (new to the hot tier).
func replay(_ hot: HotTier, _ events: [TicketEvent], batch size: Int) async throws -> Int {
    var accepted = 0, start = 0
    while start < events.count {
        let batch = Array(events[start..<min(start + size, events.count)])
        start += batch.count
        accepted += try await hot.apply(batch).filter { $0 == .accepted }.count
    }
    return accepted
}

func sumHash(_ pool: RedisPool, pattern: String, prefix: String) async throws -> Int64 {
    let keys = try await pool.command(["KEYS", pattern]).array!.map { $0.string! }
    var total: Int64 = 0
    var start = 0
    while start < keys.count {
        let chunk = keys[start..<min(start + 5000, keys.count)]
        start += chunk.count
        for reply in try await pool.pipeline(chunk.map { [Array("HGETALL".utf8), Array($0.utf8)] }) {
            let h = reply.array!
            for i in stride(from: 0, to: h.count, by: 2) where h[i].string!.hasPrefix(prefix) { total += h[i + 1].int! }
        }
    }
    return total
}

/// Each shard's hour index (`KeyLayout.hourIndex`) holds exactly the hours of its hour keys.
func expectHourIndexesMatchTheHourKeys(_ pool: RedisPool, _ layout: KeyLayout) async throws {
    var indexed = 0
    for s in 0..<layout.shards {
        let keys = try await pool.command(["KEYS", layout.hourMetrics(s, hour: 0).dropLast(1) + "*"]).array ?? []
        let hours = Set(keys.compactMap { $0.string?.split(separator: ":").last.flatMap { Int64($0) } })
        let index = Set((try await pool.command(["ZRANGE", layout.hourIndex(s), "0", "-1"]).array ?? []).compactMap { $0.int })
        #expect(index == hours, "shard \(s): index \(index.sorted().prefix(5)) vs keys \(hours.sorted().prefix(5))")
        indexed += index.count
    }
    #expect(indexed > 0)
}

/// The events the change logs hold (their lines).
func changeLogLength(_ pool: RedisPool, _ layout: KeyLayout) async throws -> Int64 {
    Int64(try changeLogEventCount(pool, layout))
}

@Suite(.serialized) struct HotTierReplayTests {
    @Test func replayConvergesToTheExpectedStateAndRepeatsChangeNothing() async throws {
        let redis = try TestRedis()
        let w = try GeneratedStream.make(tickets: 20_000, shuffle: 0.05, dup: 0.01, in: redis.dir.path)
        let events = try w.events()
        let hot = HotTier(pool: redis.pool)
        let accepted = try await replay(hot, events, batch: 1000)
        #expect(try await w.expected.hotMismatches(hot).prefix(10) == [])
        // Each distinct event is accepted once; duplicates are not.
        #expect(accepted < events.count)
        #expect(try await changeLogLength(redis.pool, hot.options.layout) == Int64(accepted))
        let created = try await sumHash(redis.pool, pattern: "st:{*}:h:*", prefix: "created:")
        print("created \(created), accepted \(accepted) of \(events.count)")
        #expect(created == 20_000)
        // The stream ends 2026-11-01, past the minute retention: no minute counters.
        #expect(try await redis.pool.command(["KEYS", "st:{*}:m:*"]).array?.count == 0)
        let firstResponses = w.expected.rows.values.filter { $0["first_response_at"] != .null }.count
        #expect(try await sumHash(redis.pool, pattern: "st:{*}:h:*", prefix: "first_response") == Int64(firstResponses))

        // Each shard's hour index lists exactly the hours that have a counter hash.
        try await expectHourIndexesMatchTheHourKeys(redis.pool, hot.options.layout)
        // No hour key expires: each stays until the compactor moves it (an expiry would lose
        // its counts if no compactor ran for that long).
        let hourKeys = try await redis.pool.command(["KEYS", "st:{*}:h:*"]).array!.prefix(50)
        #expect(!hourKeys.isEmpty)
        for k in hourKeys {
            let ttl = try await redis.pool.command(["TTL", k.string!]).int!
            #expect(ttl == -1, "\(k) TTL \(ttl)")
        }

        // The whole stream again: nothing is accepted, nothing is logged or counted twice.
        let again = try await hot.apply(Array(events.prefix(5000)))
        #expect(again.allSatisfy { $0 == .alreadyKnown })
        #expect(try await changeLogLength(redis.pool, hot.options.layout) == Int64(accepted))
        #expect(try await sumHash(redis.pool, pattern: "st:{*}:h:*", prefix: "created:") == 20_000)
        #expect(try await w.expected.hotMismatches(hot).isEmpty)
    }

    /// The two write paths count alike, hash by hash and field by field: the daemon's write
    /// script makes a new hour key with one `HSET` of its fields (known new by `ZADD NX`), the
    /// merge script with one `HINCRBY` per field; an hour key written again by a later call
    /// takes the increments. A replayed history makes a new hour key for about every second
    /// event, and calls of 97 events (a prime) put one key's events in several calls.
    @Test func bothWritePathsCountEveryHourAlike() async throws {
        let script = try TestRedis(prefix: "count-script"), daemon = try TestRedis(prefix: "count-daemon")
        let w = try GeneratedStream.make(tickets: 3000, shuffle: 0.05, dup: 0.02, in: script.dir.path)
        let events = try w.events()
        var byScript = HotTierOptions()
        byScript.mergeInDaemon = false
        _ = try await replay(HotTier(pool: script.pool, options: byScript), events, batch: 97)
        _ = try await replay(HotTier(pool: daemon.pool), events, batch: 97)
        func hours(_ pool: RedisPool) async throws -> [String: [String: Int64]] {
            var out = [String: [String: Int64]]()
            let keys = try await pool.command(["KEYS", "st:{*}:h:*"]).array!.map { $0.string! }
            for (key, reply) in zip(keys, try await pool.pipeline(keys.map { [Array("HGETALL".utf8), Array($0.utf8)] })) {
                let h = reply.array!
                for i in stride(from: 0, to: h.count, by: 2) { out[key, default: [:]][h[i].string!] = h[i + 1].int! }
            }
            return out
        }
        let a = try await hours(script.pool), b = try await hours(daemon.pool)
        #expect(a.count > 1000, "\(a.count) hour keys")
        let differing = Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
        #expect(differing.isEmpty, "\(differing.count) hour keys differ, first \(differing.prefix(3).map { "\($0): \(a[$0] ?? [:]) vs \(b[$0] ?? [:])" })")
        let layout = HotTierOptions().layout
        try await expectHourIndexesMatchTheHourKeys(daemon.pool, layout)
        for k in b.keys.sorted().prefix(200) {
            let ttl = try await daemon.pool.command(["TTL", k]).int!
            #expect(ttl == -1, "\(k) TTL \(ttl): an hour key stays until the compactor moves it")
        }
    }

    /// An event counts in its minute; the fold (`MinuteFold`, RedisTimeSeries's compaction
    /// rule at the bucket's close) moves a finished minute's counts into its hour once and
    /// gives the minute its retention, 48 h after it ends. An event past that retention
    /// counts in its hour only; one for a minute already folded counts in both at once.
    /// Every write path: the merge script, the write script, the transaction.
    @Test(arguments: ["redis", "script", "transaction"]) func minutesCountAndFoldIntoTheirHoursOnce(path: String) async throws {
        let redis = try TestRedis()
        var options = HotTierOptions()
        options.mergeInDaemon = path != "redis"
        options.writeWithTransaction = path == "transaction"
        let hot = HotTier(pool: redis.pool, options: options)
        let now = wallClockMilliseconds()
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        func create(_ id: Int64, at: Int64) -> TicketEvent {
            TicketEvent(op: .create, id: id, writer: "svc", vv: [("svc", 1)],
                        fields: [(c("created_at"), .integer(at)), (c("updated_at"), .integer(at)), (c("status"), .string("new")),
                                 (c("channel"), .string("email")), (c("priority"), .string("low")), (c("queue"), .string("q"))], at: at)
        }
        // An hour ago and 47 h ago: kept; 49 h ago: past the 48 h retention.
        let ages: [Int64] = [3_600_000, 47 * 3_600_000, 49 * 3_600_000]
        #expect(try await hot.apply(ages.enumerated().map { create(Int64($0.offset + 1), at: now - $0.element) }) == [.accepted, .accepted, .accepted])
        let layout = hot.options.layout
        func counts(_ k: Int) async throws -> (minute: Int64?, hour: Int64?) {
            let at = now - ages[k], shard = layout.shard(of: Int64(k + 1))
            return (try await redis.pool.command(["HGET", layout.minuteMetrics(shard, minute: floorDiv(at, 60_000)), "created:email:low:q"]).int,
                    try await redis.pool.command(["HGET", layout.hourMetrics(shard, hour: floorDiv(at, 3_600_000)), "created:email:low:q"]).int)
        }
        var seen = [try await counts(0), try await counts(1), try await counts(2)]
        #expect(seen[0] == (1, nil) && seen[1] == (1, nil), "a kept minute counts in the minute, not yet in its hour")
        #expect(seen[2] == (nil, 1), "past the retention: in the hour only")
        // Two folders at once: each minute is folded by one of them.
        let pool = redis.pool, before = floorDiv(now, 60_000), frozen = options
        let fold: @Sendable () throws -> Int = { try MinuteFold.run(pool: pool, options: frozen, before: before) }
        async let a = Task.detached { try fold() }.value
        async let b = Task.detached { try fold() }.value
        #expect(try await a + b == 2)
        #expect(try fold() == 0)
        for k in 0..<3 {
            let now = try await counts(k)
            #expect(now == (k < 2 ? 1 : nil, 1), "ticket \(k + 1)")
        }
        for k in 0..<2 {
            let at = now - ages[k]
            let minuteKey = layout.minuteMetrics(layout.shard(of: Int64(k + 1)), minute: floorDiv(at, 60_000))
            #expect(try await redis.pool.command(["EXPIRETIME", minuteKey]).int == (floorDiv(at, 60_000) + 1) * 60 + 48 * 3600, "\(minuteKey)")
        }
        // A late event of a folded minute (same shard and minute as ticket 1): both at once.
        let late = (Int64(100)...).first { layout.shard(of: $0) == layout.shard(of: 1) }!
        #expect(try await hot.apply([create(late, at: now - ages[0])]) == [.accepted])
        seen[0] = try await counts(0)
        #expect(seen[0] == (2, 2))
        #expect(try fold() == 0)
        seen[0] = try await counts(0)
        #expect(seen[0] == (2, 2))
        try await expectHourIndexesMatchTheHourKeys(redis.pool, layout)
    }

    /// The write script tells new hour keys from old ones by one `ZADD NX` of a call's hours
    /// to the hour index (which lists exactly the hours that have a key): all new (one `HSET`
    /// each), none (`HINCRBY`), or some of each (an `EXISTS` each). A call of each kind, on
    /// one shard, with events past the minute retention (they count in their hour only); a
    /// wrong guess would overwrite an hour's counts or leave a key out of the index.
    /// The transaction path (`TransactionWrite`) reads which of its hours have a key instead,
    /// with the keys watched: the same three calls on it.
    @Test(arguments: [false, true]) func newAndExistingHourKeysInOneCallKeepEveryCount(transaction: Bool) async throws {
        let redis = try TestRedis()
        var options = HotTierOptions()
        options.writeWithTransaction = transaction
        let hot = HotTier(pool: redis.pool, options: options)
        let layout = hot.options.layout
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        let hour: Int64 = 3_600_000
        let base = floorDiv(wallClockMilliseconds(), hour) * hour - 100 * hour  // past the 48 h minute retention
        let ids: [Int64] = Array((Int64(1)...Int64(10_000)).filter { layout.shard(of: $0) == layout.shard(of: 1) }.prefix(7))
        func create(_ k: Int, hoursBack: Int64) -> TicketEvent {
            let at = base - hoursBack * hour + 60_000
            return TicketEvent(op: .create, id: ids[k], writer: "svc", vv: [("svc", 1)],
                               fields: [(c("created_at"), .integer(at)), (c("updated_at"), .integer(at)), (c("status"), .string("new")),
                                        (c("channel"), .string("email")), (c("priority"), .string("low")), (c("queue"), .string("q"))], at: at)
        }
        func count(hoursBack: Int64) async throws -> Int64? {
            let key = layout.hourMetrics(layout.shard(of: 1), hour: floorDiv(base - hoursBack * hour, hour))
            return try await redis.pool.command(["HGET", key, "created:email:low:q"]).int
        }
        // All new: hours 0 and 1 back.
        #expect(try await hot.apply([create(0, hoursBack: 0), create(1, hoursBack: 1)]) == [.accepted, .accepted])
        // Some of each: hour 1 exists, hour 2 is new.
        #expect(try await hot.apply([create(2, hoursBack: 1), create(3, hoursBack: 2)]) == [.accepted, .accepted])
        // None new: hours 0, 1 and 2 exist.
        #expect(try await hot.apply([create(4, hoursBack: 0), create(5, hoursBack: 1), create(6, hoursBack: 2)]) == [.accepted, .accepted, .accepted])
        #expect(try await count(hoursBack: 0) == 2)
        #expect(try await count(hoursBack: 1) == 3)
        #expect(try await count(hoursBack: 2) == 2)
        try await expectHourIndexesMatchTheHourKeys(redis.pool, layout)
    }

    /// `changeLogMaxLength` trims each shard's log (`XADD MAXLEN ~`, whole stream nodes) on
    /// both write paths, and one call still writes one entry holding all its events' lines.
    @Test func aCappedChangeLogIsTrimmedOnBothPaths() async throws {
        let redis = try TestRedis()
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        for daemon in [true, false] {
            var options = HotTierOptions()
            options.mergeInDaemon = daemon
            options.changeLogMaxLength = 10
            options.layout = KeyLayout(prefix: daemon ? "capd" : "caps", shards: 1)
            let hot = HotTier(pool: redis.pool, options: options)
            for call in 0..<300 {
                let events = (0..<3).map { k -> TicketEvent in
                    let id = Int64(call * 3 + k + 1)
                    return TicketEvent(op: .create, id: id, writer: "svc", vv: [("svc", 1)],
                                       fields: [(c("created_at"), .integer(1000)), (c("updated_at"), .integer(1000)), (c("status"), .string("new"))], at: 1000)
                }
                #expect(try await hot.apply(events) == [.accepted, .accepted, .accepted])
            }
            let entries = try await redis.pool.command(["XLEN", options.layout.changeLog(0)]).int ?? -1
            // Redis trims whole nodes of 100 entries (stream-node-max-entries), so "about 10".
            #expect(entries >= 10 && entries <= 110, "\(daemon ? "daemon" : "script"): \(entries) entries kept of 300")
            let lines = try changeLogLines(redis.pool, options.layout)
            #expect(lines.count == 3 * entries, "one entry per call, three lines each")
            #expect(lines.last.flatMap { ChangeLogEntry.ticket(of: $0) } == 900, "the newest entries are kept")
        }
    }

    @Test func anyOrderGivesTheSameState() async throws {
        let redis = try TestRedis()
        let w = try GeneratedStream.make(tickets: 2000, shuffle: 0.05, dup: 0.01, in: redis.dir.path)
        var events = try w.events()
        var rng = SplitMix64(seed: testSeed("anyOrderGivesTheSameState"))
        for i in stride(from: events.count - 1, to: 0, by: -1) { events.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        var options = HotTierOptions()
        options.layout = KeyLayout(prefix: "shuffled", shards: 7)
        let hot = HotTier(pool: redis.pool, options: options)
        for k in stride(from: 0, to: events.count, by: 333) {
            _ = try await hot.apply(Array(events[k..<min(k + 333, events.count)]))
        }
        #expect(try await w.expected.hotMismatches(hot).prefix(10) == [])
    }

    @Test func aTicketKeepsAtMost63Writers() async throws {
        let redis = try TestRedis()
        let hot = HotTier(pool: redis.pool)
        var vv = [(writer: String, count: Int64)]()
        var outcomes = [ApplyOutcome]()
        for w in 0..<64 {
            vv.append(("w\(w)", 1))
            let e = TicketEvent(op: .patch, id: 5, writer: "w\(w)", vv: vv, fields: [(9, .string("q\(w)")), (2, .integer(Int64(w)))], at: Int64(w))
            outcomes += try await hot.apply([e])
        }
        #expect(outcomes.prefix(63).allSatisfy { $0 == .accepted })
        #expect(outcomes.last == .refused)
        let t = try #require(try await hot.ticket(5))
        #expect(t.values[9] == .string("q62"))
        #expect(t.vv.count == 63)
    }

    @Test func scriptIsReloadedAfterRedisForgetsIt() async throws {
        let redis = try TestRedis()
        let hot = HotTier(pool: redis.pool)
        let e = TicketEvent(op: .create, id: 1, writer: "svc-1", vv: [("svc-1", 1)], fields: [(6, .string("new")), (2, .integer(1000))], at: 1000)
        #expect(try await hot.apply([e]) == [.accepted])
        _ = try await redis.pool.command(["SCRIPT", "FLUSH"])
        var e2 = e
        e2.vv = [("svc-1", 2)]
        e2.fields = [(6, .string("open")), (2, .integer(2000))]
        #expect(try await hot.apply([e2]) == [.accepted])
        #expect(try await hot.ticket(1)?.values[6] == .string("open"))
    }
}

@Suite struct EventDecoderTests {
    func error(_ json: String) -> String {
        do { _ = try EventDecoder.decode(Array(json.utf8)); return "accepted" } catch { return error.description }
    }

    @Test func badEventsNameTheField() {
        let ok = #"{"op":"patch","id":7,"writer":"agent","vv":{"agent":1},"fields":{"status":"open","updated_at":"2026-10-01T00:00:00Z"}}"#
        #expect(error(ok) == "accepted")
        #expect(error(#"{"op":"patch""#).hasPrefix("malformed JSON: unexpected end of JSON in an object"))
        #expect(error(#"[1]"#) == "an event is a JSON object, got array")
        #expect(error(ok.replacingFirst(#""op":"patch""#, #""op":"delete""#)) == "op: unknown op \"delete\" (create or patch)")
        #expect(error(ok.replacingFirst(#""id":7,"#, "")) == "id: missing")
        #expect(error(ok.replacingFirst(#""id":7"#, #""id":"7""#)) == "id: expected an integer, got string")
        #expect(error(ok.replacingFirst(#","vv":{"agent":1}"#, "")) == "vv: missing")
        #expect(error(ok.replacingFirst(#""vv":{"agent":1}"#, #""vv":{"svc-1":1}"#)) == "vv: must include the writer \"agent\"")
        #expect(error(ok.replacingFirst(#""vv":{"agent":1}"#, #""vv":{"agent":0}"#)) == "vv.agent: must be between 1 and 2^40, got 0")
        #expect(error(ok.replacingFirst(#""status":"open""#, #""status":"lost""#)) == "fields.status: \"lost\" is not one of new, open, pending, on_hold, solved, closed")
        #expect(error(ok.replacingFirst(#""status":"open""#, #""status":null"#)) == "fields.status: cannot be null")
        #expect(error(ok.replacingFirst(#""status":"open""#, #""agent_id":"x""#)) == "fields.agent_id: expected int64, got a string")
        #expect(error(ok.replacingFirst(#""status":"open""#, #""satisfaction":9000"#)) == "fields.satisfaction: 9000 is out of range for int8")
        #expect(error(ok.replacingFirst(#""status":"open""#, #""colour":"red""#)) == "fields.colour: unknown field")
        #expect(error(ok.replacingFirst(#""status":"open""#, #""version":3"#)) == "fields.version: is not writable")
        #expect(error(ok.replacingFirst("2026-10-01T00:00:00Z", "yesterday")) == "fields.updated_at: invalid timestamp \"yesterday\" (RFC 3339 expected)")
        #expect(error(ok.replacingFirst(#","updated_at":"2026-10-01T00:00:00Z""#, "")) == "fields.updated_at: missing (every event carries its time)")
        #expect(error(ok.replacingFirst(#""op":"patch""#, #""op":"patch","extra":1"#)) == "extra: unknown key (an event has op, id, writer, vv, fields)")
        #expect(error(ok.replacingFirst(#""id":7"#, #""id":07"#)).hasPrefix("malformed JSON: leading zero"))
        #expect(error(ok.replacingFirst(#""id":7"#, #""id":7.0"#)) == "id: expected an integer, got number")
        #expect(error(ok.replacingFirst(#""id":7"#, #""id":9223372036854775808"#)).hasPrefix("malformed JSON: integer 9223372036854775808 out of the 64-bit range"))
        #expect(error(ok.replacingFirst(#""id":7"#, #""id":7,"id":8"#)).hasPrefix("malformed JSON: duplicate key \"id\""))
        #expect(error(ok.replacingFirst(#""status":"open""#, #""status":"open","status":"new""#)).hasPrefix("malformed JSON: duplicate key \"status\""))
        #expect(error(ok.replacingFirst(#""vv":{"agent":1}"#, #""vv":{"agent":1,"agent":2}"#)).hasPrefix("malformed JSON: duplicate key \"agent\""))
        #expect(error(ok + " x").hasPrefix("malformed JSON: unexpected text after the JSON value"))
        var bad = Array(ok.utf8)
        bad[8] = 0xFF  // inside "patch"
        do { _ = try EventDecoder.decode(bad); Issue.record("invalid UTF-8 accepted") } catch {
            #expect(error.description == "malformed JSON: invalid UTF-8 in a string at byte 8")
        }
    }
}


@Suite struct EventScannerTests {
    @Test func everyGeneratedEventIsScannedAsTheTreeReadsIt() throws {
        let dir = try TemporaryDirectory(prefix: "scan")
        defer { dir.remove() }
        let w = try GeneratedStream.make(tickets: 2000, shuffle: 0.05, dup: 0.01, in: dir.path)
        #expect(w.lines.count > 5000)
        for line in w.lines {
            let scanned = line.withUnsafeBufferPointer { EventScanner.scan($0) }
            #expect(scanned != nil, "\(String(decoding: line, as: UTF8.self))")
            #expect(scanned == (try? EventDecoder.decodeByTree(line)))
        }
    }

    @Test func whatTheScannerLeavesToTheTree() throws {
        let ok = #"{"op":"patch","id":7,"writer":"agent","vv":{"agent":1},"fields":{"status":"open","updated_at":"2026-10-01T00:00:00Z"}}"#
        func scan(_ s: String) -> TicketEvent? { Array(s.utf8).withUnsafeBufferPointer { EventScanner.scan($0) } }
        #expect(scan(ok) != nil)
        #expect(scan(" \t" + ok + "\r ") != nil)
        // Accepted, but by the tree: an escape, a writer spelled with one.
        for accepted in [ok.replacingFirst(#""status":"open""#, #""subject":"a \"b\"","status":"open""#),
                         ok.replacingFirst(#""writer":"agent""#, #""writer":"ag\u0065nt""#)] {
            #expect(scan(accepted) == nil, "\(accepted)")
            #expect(try EventDecoder.decode(Array(accepted.utf8)) == EventDecoder.decodeByTree(Array(accepted.utf8)))
        }
        // Refused: every one goes to the tree, which names what is wrong.
        for refused in [ok.replacingFirst(#""id":7"#, #""id":07"#), ok.replacingFirst(#""id":7"#, #""id":-7"#),
                        ok.replacingFirst(#""id":7"#, #""id":7e0"#), ok.replacingFirst(#""id":7"#, #""id":9223372036854775808"#),
                        ok.replacingFirst(#""id":7"#, #""id":7,"id":7"#), ok.replacingFirst(#""vv":{"agent":1}"#, #""vv":{"agent":1,"agent":1}"#),
                        ok.replacingFirst(#""vv":{"agent":1}"#, #""vv":{}"#), ok.replacingFirst(#""status":"open""#, #""status":null"#),
                        ok.replacingFirst(#""status":"open""#, #""version":1"#), ok.replacingFirst(#""status":"open""#, #""id":1"#),
                        ok.replacingFirst(#""op":"patch""#, #""op":"create""#), ok + "}", "{}", ""] {
            #expect(scan(refused) == nil, "\(refused)")
            #expect(throws: EventError.self) { try EventDecoder.decode(Array(refused.utf8)) }
        }
    }
}

extension String {
    func replacingFirst(_ a: String, _ b: String) -> String {
        guard let r = range(of: a) else { return self }
        return replacingCharacters(in: r, with: b)
    }
}

import Foundation

@Suite struct HostileEventTests {
    @Test func mutatedEventsAreRefusedOrDecodedNeverCrash() {
        var rng = SplitMix64(seed: testSeed("mutatedEventsAreRefusedOrDecodedNeverCrash"))
        let escaped = Array(#"{"op":"patch","id":7,"writer":"agent","vv":{"agent":1,"svc-1":2},"fields":{"status":"open","agent_id":3,"satisfaction":null,"updated_at":"2026-10-01T00:00:00.123Z","subject":"a \"quoted\" \u00e9"}}"#.utf8)
        var refused = 0, scanned = 0
        let base = Array(#"{"op":"patch","id":7,"writer":"agent","vv":{"agent":1,"svc-1":2},"fields":{"status":"open","agent_id":3,"satisfaction":null,"updated_at":"2026-10-01T00:00:00.123Z","subject":"plain é"}}"#.utf8)
        for k in 0..<40_000 {
            var b = k % 2 == 0 ? base : escaped
            for _ in 0...Int(rng.next() % 3) {
                let i = Int(rng.next() % UInt64(b.count))
                switch rng.next() % 3 {
                case 0: b[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: b.remove(at: i)
                default: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                }
            }
            // The scanner and the tree agree on every one: the same event or the same error.
            let tree: Result<TicketEvent, EventError>, both: Result<TicketEvent, EventError>
            do { tree = .success(try EventDecoder.decodeByTree(b)) } catch { tree = .failure(error) }
            do { both = .success(try EventDecoder.decode(b)) } catch { both = .failure(error); refused += 1 }
            #expect(tree == both, "\(String(decoding: b, as: UTF8.self))")
            if b.withUnsafeBufferPointer({ EventScanner.scan($0) }) != nil { scanned += 1 }
        }
        #expect(refused > 20_000)
        #expect(scanned > 100, "the scanner read \(scanned) of the mutated events")
    }

    /// Random RESP-like bytes: the reader refuses them or reads replies that, written back
    /// as RESP, read back the same (it accepts nothing it would not also write).
    @Test func randomBytesIntoTheRESPReader() {
        func encode(_ v: RESPValue) -> [UInt8] {
            switch v {
            case .simple(let s): return Array("+\(s)\r\n".utf8)
            case .error(let s): return Array("-\(s)\r\n".utf8)
            case .integer(let n): return Array(":\(n)\r\n".utf8)
            case .bulk(let b): return Array("$\(b.count)\r\n".utf8) + b + [13, 10]
            case .null: return Array("$-1\r\n".utf8)
            case .array(let items): return Array("*\(items.count)\r\n".utf8) + items.flatMap(encode)
            }
        }
        var rng = SplitMix64(seed: 77)
        var replies = 0
        for _ in 0..<5000 {
            let r = RESPReader()
            let alphabet = [UInt8]("+-:$*\r\n0123456789abc".utf8)
            r.feed((0..<Int(rng.next() % 64)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            for _ in 0..<8 {
                guard let v = try? r.next() else { break }
                replies += 1
                let again = RESPReader()
                again.feed(encode(v))
                #expect((try? again.next()) == v, "\(v) does not read back")
            }
        }
        #expect(replies > 20, "only \(replies) replies read from 5,000 inputs")
    }
}

/// The change-log entry's one codec (`ChangeLogEntry`): nine fields, the ticket first.
@Suite struct ChangeLogEntryTests {
    @Test func nineFieldsOrNothing() {
        let entry = Array("12|1759622400000|svc-1|3|status,updated_at|new|open||7".utf8)
        let f = ChangeLogEntry.fields(entry)
        #expect(f?.count == 9)
        #expect(f.map { String(decoding: entry[$0[2]], as: UTF8.self) } == "svc-1")
        #expect(f.map { entry[$0[7]].isEmpty } == true && f.map { String(decoding: entry[$0[8]], as: UTF8.self) } == "7")
        #expect(ChangeLogEntry.ticket(of: entry) == 12)
        #expect(ChangeLogEntry.fields(Array("12|1|w|3|f|a|b|c".utf8)) == nil)
        #expect(ChangeLogEntry.fields(Array("12|1|w|3|f|a|b|c|d|e".utf8)) == nil)
        #expect(ChangeLogEntry.ticket(of: Array("x|1".utf8)) == nil)
    }

    /// An entry holds the lines of one call's accepted events; an entry of one line (as all
    /// were before) reads the same.
    @Test func anEntryHoldsOneLinePerEvent() {
        let a = Array("12|1|svc|1|status|new|open||".utf8), b = Array("13|2|svc|1|status|||7|".utf8)
        let text = ChangeLogEntry.text([a, b])
        #expect(text == a + [0x0A] + b)
        #expect(ChangeLogEntry.lines(text).map { Array($0) } == [a, b])
        #expect(ChangeLogEntry.lines(a).map { Array($0) } == [a])
        #expect(ChangeLogEntry.lines([]).isEmpty && ChangeLogEntry.text([[UInt8]]()) == [])
        let second = ChangeLogEntry.lines(text)[1]
        #expect(ChangeLogEntry.ticket(of: second) == 13)
        let f = ChangeLogEntry.fields(second)
        #expect(f.map { String(decoding: second[$0[7]], as: UTF8.self) } == "7", "ranges index the entry's bytes")
    }

    /// `lines` (a scan of its own since session 22) splits as the standard library's
    /// `split(separator:)` does, empty pieces left out; `fields(_:into:)` reuses its array
    /// and answers as `fields` does, for random texts of separators and bytes.
    @Test func linesAndFieldsAnswerAsTheStandardSplit() {
        var rng = SplitMix64(seed: testSeed("linesAndFieldsAnswerAsTheStandardSplit"))
        var scratch = [Range<Int>]()
        for _ in 0..<2000 {
            let alphabet: [UInt8] = [0x0A, 0x7C, 0x31, 0x61]  // newline, '|', '1', 'a'
            let text = (0..<Int(rng.next() % 40)).map { _ in alphabet[Int(rng.next() % 4)] }
            let expected = text.split(separator: 0x0A, omittingEmptySubsequences: true)
            let got = ChangeLogEntry.lines(text)
            #expect(got.map(Array.init) == expected.map(Array.init) && got.map(\.startIndex) == expected.map(\.startIndex), "\(text)")
            for line in got {
                let parts = line.split(separator: 0x7C, omittingEmptySubsequences: false)
                let nine = parts.count == ChangeLogEntry.fieldCount
                #expect(ChangeLogEntry.fields(line, into: &scratch) == nine)
                if nine { #expect(scratch.map { Array(line[$0]) } == parts.map(Array.init)) }
                #expect(ChangeLogEntry.fields(line) == (nine ? scratch : nil))
            }
        }
    }
}


/// The merge script's view of the schema is generated from `Tables` (issue 14: it was typed
/// by hand, so appending a column would have broken it silently). The generated text must say
/// what `Tables` says, and the flat ticket's bit set of columns must hold every column.
@Suite struct MergeScriptSchemaTests {
    @Test func theScriptsColumnsAreTablesColumns() throws {
        let lua = MergeScript.source
        let columns = Tables.tickets.columns
        #expect(lua.contains("local F = \(columns.count)\n"))
        #expect(lua.contains("local NAMES = {" + columns.map { "\"\($0.name)\"" }.joined(separator: ",") + "}"))
        let line = try #require(lua.split(separator: "\n").first { $0.hasPrefix("local STATUS, AGENT") })
        let names = ["status", "agent_id", "created_at", "updated_at", "first_response_at", "solved_at", "channel", "priority", "queue", "satisfaction", "reopen_count"]
        #expect(line.hasSuffix(" = " + names.map { String(Tables.tickets.index(of: $0)! + 1) }.joined(separator: ", ")), "\(line)")
        #expect(!lua.contains("t[35]") && !lua.contains("q = 36"), "a position after the columns is written as a number")
        #expect(columns.count <= 32, "FlatTicket.setColumns holds 32 columns")
    }
}

/// The change log holds every integer as its digits: Lua's tostring printed agent ids of 15
/// digits or more as 1.2345678901234e+14, and `ticket_events` then showed NULL for them.
@Suite struct ChangeLogDigitsTests {
    @Test func largeAgentIdsAreLoggedExactly() async throws {
        let redis = try TestRedis()
        let hot = HotTier(pool: redis.pool)
        let schema = Tables.tickets
        let at = Timestamp.parse("2026-10-01T09:00:00Z")!
        func col(_ name: String) -> Int { schema.index(of: name)! }
        let create = TicketEvent(op: .create, id: 5, writer: "svc", vv: [("svc", 1)], fields: [
            (col("created_at"), .integer(at)), (col("updated_at"), .integer(at)), (col("status"), .string("new")),
            (col("priority"), .string("low")), (col("channel"), .string("email")), (col("queue"), .string("q")),
            (col("customer_id"), .integer(1)), (col("subject"), .string("s")), (col("tags"), .string("")),
            (col("reopen_count"), .integer(0)), (col("agent_id"), .integer(123_456_789_012_345)),
        ], at: at)
        let patch = TicketEvent(op: .patch, id: 5, writer: "svc", vv: [("svc", 2)], fields: [
            (col("updated_at"), .integer(at + 1000)), (col("agent_id"), .integer(9_007_199_254_740_993)),
        ], at: at + 1000)
        #expect(try await hot.apply([create, patch]) == [.accepted, .accepted])
        var entries = [[UInt8]]()
        for s in 0..<hot.options.layout.shards {
            let r = try await redis.pool.command(["XRANGE", hot.options.layout.changeLog(s), "-", "+"])
            for e in r.array ?? [] { if case .bulk(let b)? = e.array?[1].array?[1] { entries += ChangeLogEntry.lines(b).map { Array($0) } } }
        }
        #expect(entries.count == 2)
        let agents = entries.compactMap { e -> (String, String)? in
            guard let f = ChangeLogEntry.fields(e) else { return nil }
            return (String(decoding: e[f[7]], as: UTF8.self), String(decoding: e[f[8]], as: UTF8.self))
        }
        #expect(agents.map(\.1) == ["123456789012345", "9007199254740993"], "\(agents)")
        #expect(agents.map(\.0) == ["", "123456789012345"], "\(agents)")
    }
}

/// The writers' side of the compactor's mark (`KeyLayout.compactionMark`).
@Suite struct CompactionMarkWriteTests {
    /// The compactor deletes a shard's tickets without comparing values while its mark names
    /// the change log's last id (docs/tiering.md, "Deleting on a mark"). So every write path
    /// keeps the rule: a call that changes a ticket and logs nothing (here a restore whose
    /// event is a repeat) deletes the mark; a call that logs leaves it (its entry moves the
    /// last id instead), and so does one that changes nothing.
    @Test(arguments: ["redis", "script", "transaction"]) func aWriteThatChangesATicketAndLogsNothingDeletesTheCompactionMarkARestoreJoinsTheReopenedSet(path: String) async throws {
        let redis = try TestRedis(prefix: "mark-\(path)")
        var options = HotTierOptions()
        options.mergeInDaemon = path != "redis"
        options.writeWithTransaction = path == "transaction"
        let hot = HotTier(pool: redis.pool, options: options)
        let layout = options.layout
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        let at = wallClockMilliseconds()
        let fields: [(column: Int, value: TicketEvent.Value)] = Tables.tickets.columns.indices.filter { $0 != 0 && Tables.tickets.columns[$0].name != "version" }.map { i in
            let def = Tables.tickets.columns[i]
            return (i, def.type.isInteger ? .integer(def.type == .timestamp ? at : 3) : .string(def.name == "status" ? "new" : "v"))
        }
        let create = TicketEvent(op: .create, id: 1, writer: "svc-1", vv: [("svc-1", 1)], fields: fields, at: at)
        #expect(try await hot.apply([create]) == [.accepted])
        let mark = layout.compactionMark(layout.shard(of: 1))
        func marked() async throws -> Bool { try await redis.pool.command(["EXISTS", mark]).int == 1 }
        _ = try await redis.pool.command(["SET", mark, "nonce|1-1"])
        #expect(try await hot.apply([create]) == [.alreadyKnown])
        #expect(try await marked(), "a repeat that changes nothing leaves the mark")
        let patch = TicketEvent(op: .patch, id: 1, writer: "agent", vv: [("svc-1", 1), ("agent", 1)], fields: [(c("status"), .string("open"))], at: at + 1000)
        #expect(try await hot.apply([patch]) == [.accepted])
        #expect(try await marked(), "a logged write leaves the mark: its entry moves the log's last id")
        // The ticket leaves Redis as the compactor moves it, and comes back restored, with
        // nothing logged (the event that brought it back is a repeat).
        guard case .bulk(let blob) = try await redis.pool.command(["GET", layout.ticket(1)]) else { Issue.record("no ticket 1"); return }
        let state = try MergeState.blankValues(blob)
        _ = try await redis.pool.command(["DEL", layout.ticket(1)])
        let logLength = try await redis.pool.command(["XLEN", layout.changeLog(layout.shard(of: 1))]).int
        let coldRow = fields.map { $0.column == c("status") ? ($0.column, TicketEvent.Value.string("open")) : $0 }  // the values as the cold tier keeps them
        #expect(try await hot.apply([TicketEvent(folding: .restore(state: state), id: 1, fields: coldRow), patch]) == [.alreadyKnown, .alreadyKnown])
        #expect(try await redis.pool.command(["GET", layout.ticket(1)]) == .bulk(blob), "restored as it was")
        #expect(try await redis.pool.command(["XLEN", layout.changeLog(layout.shard(of: 1))]).int == logLength, "nothing logged")
        #expect(try await marked() == false, "a write that changes a ticket and logs nothing deletes the mark")
        // The restore put the ticket in its shard's reopened set, in the same call, so that the
        // run that moves it again supersedes its cold row (docs/tiering.md, "A ticket coming back").
        let reopened = layout.reopened(layout.shard(of: 1))
        #expect(try await redis.pool.command(["SMEMBERS", reopened]).array?.compactMap(\.int) == [1])
        // A restore that finds the ticket hot changes nothing, and adds nothing.
        _ = try await redis.pool.command(["DEL", reopened])
        #expect(try await hot.apply([TicketEvent(folding: .restore(state: state), id: 1, fields: coldRow)]) == [.alreadyKnown])
        #expect(try await redis.pool.command(["EXISTS", reopened]).int == 0)
    }
}
