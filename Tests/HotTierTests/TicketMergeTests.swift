import Testing
import StrataCore
import RedisClient
import SystemSupport
import StrataTesting
@testable import HotTier

/// The merge in Swift (`ShardMerge`) against the merge script on a real Redis, call by
/// call: from the same stored tickets and the same events, the same outcomes, the same
/// stored bytes, the same change-log entries and the same counters.
@Suite(.serialized) struct TicketMergeTests {
    /// Runs `events` through the script call by call, and through `ShardMerge` from the
    /// tickets each call found; returns the differences.
    func differences(_ events: [TicketEvent], _ redis: TestRedis, checkCold: Bool = false) async throws -> [String] {
        try await compare(events, redis, checkCold: checkCold).problems
    }

    /// The differences, and the script's outcomes (so that a test can see what it covered).
    func compare(_ events: [TicketEvent], _ redis: TestRedis, checkCold: Bool = false) async throws -> (problems: [String], outcomes: [ApplyOutcome]) {
        let hot = HotTier(pool: redis.pool)
        let sha = try await hot.loadScript()
        let layout = hot.options.layout
        var problems = [String]()
        var seen = [ApplyOutcome]()
        let firstMinute = hot.options.firstRetainedMinute(nowMs: wallClockMilliseconds())
        for call in hot.plan(events, checkCold: checkCold, firstMinute: firstMinute) {
            // The log's last entry before the call.
            let tail = try redis.pool.pipelineBlocking([["XREVRANGE", layout.changeLog(call.shard), "+", "-", "COUNT", "1"].map { Array($0.utf8) }])[0]
            let lastID = tail.array?.first?.array?.first?.string
            let ids = Array(Set(call.events.map { events[$0].id })).sorted()
            let before = try redis.pool.pipelineBlocking(ids.map { ["GET", layout.ticket($0)].map { Array($0.utf8) } })
            var stored = [Int64: [UInt8]]()
            for (id, r) in zip(ids, before) { if case .bulk(let b) = r { stored[id] = b } }
            let metricKeys = call.keys.filter { $0.contains(":m:") || $0.contains(":h:") }
            let countersBefore = try counterHashes(redis.pool, metricKeys)
            let indexBefore = try indexScores(redis.pool, layout, ids)
            // Swift first (it only reads), then the script.
            var merge = ShardMerge(firstMinute: firstMinute)
            for i in call.events { try merge.apply(events[i], checkCold: checkCold) { stored[$0] } }
            let reply = try redis.pool.pipelineBlocking([call.command(sha: sha)])[0]
            let outcomes = (reply.array ?? []).map { $0.int.flatMap { ApplyOutcome(rawValue: Int($0)) } }
            seen += outcomes.compactMap { $0 }
            if outcomes != merge.outcomes.map({ Optional($0) }) { problems.append("shard \(call.shard): outcomes \(outcomes) vs Swift \(merge.outcomes)") }
            let after = try redis.pool.pipelineBlocking(ids.map { ["GET", layout.ticket($0)].map { Array($0.utf8) } })
            let written = Dictionary(uniqueKeysWithValues: merge.writes().map { ($0.id, $0.blob) })
            for (id, r) in zip(ids, after) {
                let now: [UInt8]? = { if case .bulk(let b) = r { return b }; return nil }()
                let want = written[id] ?? stored[id]
                if now != want { problems.append("ticket \(id): Redis holds \(now.map(hexPrefix) ?? "nothing"), Swift \(want.map(hexPrefix) ?? "nothing")") }
            }
            // The hot index: lowered (ZADD LT) to the hour of updated_at when that is earlier,
            // never raised by a write.
            var indexWanted = indexBefore
            for w in merge.writes() {
                if let score = w.indexScore, let v = Double(String(decoding: score, as: UTF8.self)) { indexWanted[w.id] = min(v, indexWanted[w.id] ?? v) }
            }
            let indexNow = try indexScores(redis.pool, layout, ids)
            if indexNow != indexWanted { problems.append("shard \(call.shard): hot index \(indexNow.sorted { $0.key < $1.key }.prefix(4)) vs Swift \(indexWanted.sorted { $0.key < $1.key }.prefix(4))") }
            for (id, score) in indexNow {
                if let blob = written[id] ?? stored[id], let flat = try? FlatTicket.parse(blob),
                   case .integer(let ms) = flat.values[Tables.tickets.index(of: "updated_at")!], score > Double(KeyLayout.hotIndexScore(updatedAtMs: ms)) {
                    problems.append("ticket \(id): hot index score \(score) later than the hour of updated_at \(ms)")
                }
            }
            // The entries this call appended to the shard's log.
            let start = lastID.map { "(" + $0 } ?? "-"
            let entries = try redis.pool.pipelineBlocking([["XRANGE", layout.changeLog(call.shard), start, "+"].map { Array($0.utf8) }])[0].array ?? []
            // One entry for the call (none when it accepted nothing), one line per accepted event.
            var logged = [[UInt8]]()
            for entry in entries {
                guard let parts = entry.array, parts.count == 2, let kv = parts[1].array, kv.count == 2, case .bulk(let text) = kv[1] else { continue }
                logged += ChangeLogEntry.lines(text).map { Array($0) }
            }
            if entries.count != (merge.log.isEmpty ? 0 : 1) { problems.append("shard \(call.shard): \(entries.count) log entries for one call") }
            if logged != merge.log {
                problems.append("shard \(call.shard): log \(logged.map { String(decoding: $0, as: UTF8.self) }) vs Swift \(merge.log.map { String(decoding: $0, as: UTF8.self) })")
            }
            let countersAfter = try counterHashes(redis.pool, metricKeys)
            var delta = [String: Int64]()
            for (k, v) in countersAfter { let d = v - (countersBefore[k] ?? 0); if d != 0 { delta[k] = d } }
            var swift = [String: Int64]()
            for (c, n) in merge.counters {
                let key = c.hour ? layout.hourMetrics(call.shard, hour: c.bucket) : layout.minuteMetrics(call.shard, minute: c.bucket)
                swift[key + " " + String(decoding: merge.field(c), as: UTF8.self)] = n
            }
            if delta != swift { problems.append("shard \(call.shard): counters \(delta.sorted { $0.key < $1.key }.prefix(4)) vs Swift \(swift.sorted { $0.key < $1.key }.prefix(4))") }
            if problems.count > 5 { break }
        }
        return (problems, seen)
    }

    /// Each ticket's score in a hot index (absent ones left out).
    func indexScores(_ pool: RedisPool, _ layout: KeyLayout, _ ids: [Int64]) throws -> [Int64: Double] {
        var out = [Int64: Double]()
        for (id, score) in zip(ids, try HotIndex(pool: pool, layout: layout).scores(ids: ids)) { if let score { out[id] = Double(score) } }
        return out
    }

    func counterHashes(_ pool: RedisPool, _ keys: [String]) throws -> [String: Int64] {
        var out = [String: Int64]()
        for (key, r) in zip(keys, try pool.pipelineBlocking(keys.map { ["HGETALL", $0].map { Array($0.utf8) } })) {
            let kv = r.array ?? []
            for j in stride(from: 0, to: kv.count - 1, by: 2) { out[key + " " + (kv[j].string ?? "")] = Int64(kv[j + 1].string ?? "") ?? 0 }
        }
        return out
    }

    @Test func aGeneratedStreamMergesToTheScriptsBytes() async throws {
        let redis = try TestRedis(prefix: "merge-diff")
        // Late, repeated and concurrent events: pending dots, repeats, lost races by stamp.
        let stream = try GeneratedStream.make(tickets: 1500, shuffle: 0.2, dup: 0.05, concurrent: 0.2, in: redis.dir.path)
        let events = try stream.events()
        var problems = [String]()
        for start in stride(from: 0, to: events.count, by: 700) where problems.isEmpty {
            problems += try await differences(Array(events[start..<min(start + 700, events.count)]), redis)
        }
        #expect(problems.prefix(5) == [])
        #expect(try HotIndex(pool: redis.pool, layout: KeyLayout()).inconsistencies() == [])
        // And the state reached is the expected one (the merge rule itself, not only agreement).
        #expect(try await stream.expected.hotMismatches(HotTier(pool: redis.pool)).prefix(5) == [])
    }

    @Test func edgesMergeToTheScriptsBytes() async throws {
        let redis = try TestRedis(prefix: "merge-edges")
        // An hour ago, so that the minute counters are kept (events past the minute
        // retention are counted in their hour only; a few below cover that boundary).
        let at = (wallClockMilliseconds() / 60_000 - 60) * 60_000
        func event(_ op: TicketEvent.Op, _ id: Int64, _ writer: String, _ vv: [(String, Int64)], _ fields: [(Int, TicketEvent.Value)], at t: Int64 = at) -> TicketEvent {
            TicketEvent(op: op, id: id, writer: writer, vv: vv.map { ($0.0, $0.1) }, fields: fields.map { ($0.0, $0.1) }, at: t)
        }
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        let create: [(Int, TicketEvent.Value)] = [(c("created_at"), .integer(at)), (c("updated_at"), .integer(at)), (c("status"), .string("new")),
                                                  (c("priority"), .string("high")), (c("channel"), .string("email")), (c("queue"), .string("billing")),
                                                  (c("customer_id"), .integer(9)), (c("subject"), .string("x")), (c("tags"), .string("")),
                                                  (c("reopen_count"), .integer(0))]
        var events = [TicketEvent]()
        // Values at every width cmsgpack chooses: integers around each boundary, above 2^53
        // (kept as digits), negative; strings of 31, 32, 255, 256 and 65,535 bytes.
        let ints: [Int64] = [0, 127, 128, 255, 256, 65_535, 65_536, 4_294_967_295, 4_294_967_296, 9_007_199_254_740_991, 9_007_199_254_740_993, Int64.max, -1, -32, -33, -128, -129, -32_768, -32_769, -2_147_483_648, -2_147_483_649]
        for (k, n) in ints.enumerated() {
            events.append(event(.create, 100 + Int64(k), "svc-1", [("svc-1", 1)], create + [(c("agent_id"), .integer(n))]))
        }
        for (k, len) in [31, 32, 255, 256, 65_535].enumerated() {
            events.append(event(.create, 200 + Int64(k), "svc-1", [("svc-1", 1)], create.filter { $0.0 != c("subject") } + [(c("subject"), .string(String(repeating: "é", count: len / 2) + (len % 2 == 1 ? "a" : "")))]))
        }
        // Ties on lamport broken by the writer's bytes; a patch before its create (incomplete,
        // then complete); a status change, a reopen, a rating, a solve, a first response.
        events.append(event(.create, 300, "svc-1", [("svc-1", 1)], create))
        events.append(event(.patch, 300, "agent-b", [("svc-1", 1), ("agent-b", 1)], [(c("status"), .string("open")), (c("agent_id"), .integer(7))]))
        events.append(event(.patch, 300, "agent-a", [("svc-1", 1), ("agent-a", 1)], [(c("status"), .string("pending"))]))
        events.append(event(.patch, 300, "agent-a", [("svc-1", 1), ("agent-a", 2), ("agent-b", 1)],
                            [(c("first_response_at"), .integer(at + 60_000)), (c("solved_at"), .integer(at + 120_000)), (c("status"), .string("solved")), (c("satisfaction"), .integer(5))]))
        events.append(event(.patch, 300, "customer", [("svc-1", 1), ("agent-a", 2), ("agent-b", 1), ("customer", 1)], [(c("reopen_count"), .integer(1)), (c("status"), .string("open")), (c("solved_at"), .null)]))
        events.append(event(.patch, 301, "agent-a", [("svc-1", 1), ("agent-a", 1)], [(c("status"), .string("open"))]))
        events.append(event(.create, 301, "svc-1", [("svc-1", 1)], create))
        events.append(event(.create, 301, "svc-1", [("svc-1", 1)], create))  // a repeat
        // A writer that skips counters: pending dots up to the limit, then refused (-2).
        events.append(event(.create, 400, "svc-1", [("svc-1", 1)], create))
        for k in 0..<(HotTierLimits.maxPendingDotsPerTicket + 3) {
            events.append(event(.patch, 400, "gappy", [("svc-1", 1), ("gappy", Int64(2 * k + 2))], [(c("subject"), .string("g\(k)"))], at: at + Int64(k)))
        }
        // The 64th writer of one ticket is refused (-1).
        events.append(event(.create, 500, "svc-1", [("svc-1", 1)], create))
        for k in 0..<64 {
            events.append(event(.patch, 500, "w\(k)", [("svc-1", 1), ("w\(k)", 1)], [(c("tags"), .string("t\(k)"))]))
        }
        // Around the oldest minute kept: 48 h back, one minute either side.
        let firstMinute = HotTierOptions().firstRetainedMinute(nowMs: wallClockMilliseconds())
        for (k, minute) in [firstMinute - 2, firstMinute + 1, firstMinute + 2].enumerated() {
            events.append(event(.create, 600 + Int64(k), "svc-1", [("svc-1", 1)], create, at: minute * 60_000 + 30_000))
        }
        let (problems, outcomes) = try await compare(events, redis)
        #expect(problems.prefix(5) == [])
        #expect(try HotIndex(pool: redis.pool, layout: KeyLayout()).inconsistencies() == [])
        #expect(outcomes.count == events.count)
        for o in [ApplyOutcome.accepted, .alreadyKnown, .refused, .tooManyPending] {
            #expect(outcomes.contains(o), "the edges include an event answered \(o)")
        }
        #expect(try await HotTier(pool: redis.pool).apply([events[0]]) == [.alreadyKnown])
    }

    @Test func coldFoldsMergeToTheScriptsBytes() async throws {
        let redis = try TestRedis(prefix: "merge-cold")
        let at = Timestamp.parse("2026-10-01T10:00:00Z")!
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        let fields: [(column: Int, value: TicketEvent.Value)] = Tables.tickets.columns.indices.filter { $0 != 0 && Tables.tickets.columns[$0].name != "version" }.map { i in
            let def = Tables.tickets.columns[i]
            return (i, def.type.isInteger ? .integer(def.type == .timestamp ? at : 3) : .string(def.name == "status" ? "closed" : "v"))
        }
        // A ticket merged hot, its merge state kept as the compactor keeps it, then restored.
        let hotFirst = TicketEvent(op: .create, id: 1, writer: "svc-1", vv: [("svc-1", 4)], fields: fields, at: at)
        _ = try await HotTier(pool: redis.pool).apply([hotFirst])
        let blob = try redis.pool.pipelineBlocking([["GET", KeyLayout().ticket(1)].map { Array($0.utf8) }])[0]
        guard case .bulk(let b) = blob else { Issue.record("no ticket"); return }
        let state = try MergeState.blankValues(b)
        _ = try redis.pool.pipelineBlocking([["DEL", KeyLayout().ticket(1)].map { Array($0.utf8) }])
        let events = [
            TicketEvent(op: .patch, id: 1, writer: "agent", vv: [("svc-1", 4), ("agent", 1)], fields: [(c("status"), .string("open"))], at: at + 1000),
            TicketEvent(folding: .restore(state: state), id: 1, fields: fields),
            TicketEvent(op: .patch, id: 1, writer: "agent", vv: [("svc-1", 4), ("agent", 1)], fields: [(c("status"), .string("open"))], at: at + 1000),
            TicketEvent(folding: .base(version: 9), id: 2, fields: fields),
            TicketEvent(op: .patch, id: 2, writer: "agent", vv: [("agent", 10)], fields: [(c("queue"), .string("q2"))], at: at + 2000),
        ]
        // C/P first: absent tickets answer "not hot"; then the folds on top.
        let first = try await compare(Array(events[0..<1]), redis, checkCold: true)
        #expect(first.problems == [] && first.outcomes == [.notHot])
        let then = try await compare(Array(events[1...]), redis, checkCold: true)
        #expect(then.problems == [] && then.outcomes == [.alreadyKnown, .accepted, .alreadyKnown, .accepted])
        #expect(try await HotTier(pool: redis.pool).ticket(1)?.values[Tables.tickets.index(of: "status")!] == .string("open"))
    }
}

func hexPrefix(_ b: [UInt8]) -> String {
    "\(b.count) bytes " + b.prefix(24).map { String($0, radix: 16) }.joined(separator: " ")
}
