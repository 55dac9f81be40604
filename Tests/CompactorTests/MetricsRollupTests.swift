import Testing
import Foundation
import ColdStore
import HotTier
import Query
import RedisClient
import SegmentFormat
import StrataCore
@testable import Catalog
@testable import Compactor
import Tiering

/// Counter totals by (hour, counter field), read from the hot tier's hour hashes.
func hotCounterTotals(_ f: Fixture) throws -> [String: Int64] {
    let layout = KeyLayout()
    var out = [String: Int64]()
    for shard in 0..<layout.shards {
        let hours = (try f.pool.pipelineBlocking([["ZRANGE", layout.hourIndex(shard), "0", "-1"].map { Array($0.utf8) }])[0].array ?? []).compactMap { $0.int }
        let replies = try f.pool.pipelineBlocking(hours.map { ["HGETALL", layout.hourMetrics(shard, hour: $0)].map { Array($0.utf8) } })
        for (hour, r) in zip(hours, replies) {
            let kv = r.array ?? []
            for j in stride(from: 0, to: kv.count, by: 2) { out["\(hour)|\(kv[j].string!)", default: 0] += Int64(kv[j + 1].string!)! }
        }
    }
    return out
}

/// The same totals from the live `ticket_metrics` segments, rows turned back into counter fields.
func coldCounterTotals(_ f: Fixture) throws -> [String: Int64] {
    var out = [String: Int64]()
    let schema = Tables.ticketMetrics
    for seg in try f.catalog.liveSegments(table: schema.name) {
        let reader = try openSegment(f.cold.absolutePath(seg.file))
        for g in reader.footer.rowGroups.indices {
            let c = try reader.readRowGroup(g, table: schema, columns: schema.columns.map(\.name))
            for i in 0..<reader.footer.rowGroups[g].rowCount {
                let metric = c[1].string(at: i)!
                let field: String
                switch metric {
                case "created": field = "created:\(c[2].string(at: i) ?? "false"):\(c[3].string(at: i) ?? "false"):\(c[4].string(at: i) ?? "false")"
                case "status": field = "status:\(c[5].string(at: i) ?? "none"):\(c[6].string(at: i)!)"
                case "csat": field = "csat:\(c[7].integer(at: i)!)"
                default: field = metric
                }
                out["\(c[0].integer(at: i)! / 3_600_000)|\(field)", default: 0] += c[8].integer(at: i)!
            }
        }
    }
    return out
}

@Suite(.serialized) struct MetricsRollupTests {
    /// Only metrics move: tickets are far younger than the hot age.
    func compactor(_ f: Fixture) -> Compactor {
        var p = CompactionPolicy()
        p.hotAgeMs = 3650 * 86_400_000
        p.metricsHotAgeMs = 48 * 3_600_000
        return Compactor(pool: f.pool, layout: KeyLayout(), catalog: f.catalog, cold: f.cold, policy: p)
    }

    static let later = Fixture.now + 30 * 86_400_000

    /// Recent events count in their minutes (open until folded): a query of ticket_metrics
    /// counts them in their hours before the fold and after it, the same; a rollup run due
    /// for those hours folds their minutes first, so that its segment holds every count.
    @Test func openMinutesAreQueriedAndFoldedBeforeTheirHoursMove() async throws {
        let f = try await Fixture(tickets: 10, preload: false)
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        // 300 creates over the first 50 minutes of the hour that ended three hours ago (wall clock): minutes kept.
        let hour = floorDiv(wallClockMilliseconds(), 3_600_000) - 3
        let events = (0..<300).map { k -> TicketEvent in
            let at = hour * 3_600_000 + Int64(k) * 10_000
            return TicketEvent(op: .create, id: Int64(10_000 + k), writer: "svc", vv: [("svc", 1)],
                               fields: [(c("created_at"), .integer(at)), (c("updated_at"), .integer(at)), (c("status"), .string("new")),
                                        (c("channel"), .string("email")), (c("priority"), .string("low")), (c("queue"), .string("billing"))], at: at)
        }
        #expect(try await f.hot.apply(events).allSatisfy { $0 == .accepted })
        let engine = QueryEngine(source: TieredTableSource(pool: f.pool, layout: KeyLayout(), coldTier: f.coldTier))
        let sql = "SELECT sum(value) FROM ticket_metrics WHERE metric = 'created' AND date_part('epoch', bucket) = \(hour * 3600)"
        #expect(try hotCounterTotals(f).isEmpty, "nothing is in an hour hash before the fold")
        #expect(try engine.execute(sql).rows == [[.int(300)]])
        let openMinutes = Set(events.map { "\(KeyLayout().shard(of: $0.id))|\(floorDiv($0.at, 60_000))" }).count
        #expect(try MinuteFold.run(pool: f.pool, options: HotTierOptions(), before: (hour + 1) * 60) == openMinutes)
        #expect(try hotCounterTotals(f).values.reduce(0, +) == 600, "300 created and 300 status:none:new, in the hour")
        #expect(try engine.execute(sql).rows == [[.int(300)]])
        // More events in the same minutes, now folded: late ones count in the hour too.
        #expect(try await f.hot.apply([TicketEvent(op: .create, id: 20_000, writer: "svc", vv: [("svc", 1)], fields: events[0].fields, at: events[0].at)]) == [.accepted])
        #expect(try engine.execute(sql).rows == [[.int(301)]])
        // A rollup of those hours (due: metrics age 1 h) folds what is still open first: here
        // a minute of the same hour that had no events yet.
        #expect(try await f.hot.apply([TicketEvent(op: .create, id: 20_001, writer: "svc", vv: [("svc", 1)], fields: events[0].fields, at: hour * 3_600_000 + 55 * 60_000)]) == [.accepted])
        #expect(try engine.execute(sql).rows == [[.int(302)]])
        var p = CompactionPolicy()
        p.hotAgeMs = 3650 * 86_400_000
        p.metricsHotAgeMs = 3_600_000
        let rollup = Compactor(pool: f.pool, layout: KeyLayout(), catalog: f.catalog, cold: f.cold, policy: p)
        // The dry run counts the hours the run will move (`theDryRunCountsHoursThatAreStillOpenMinutes`).
        let now = wallClockMilliseconds()
        let planned = try rollup.plan(nowMs: now).metricHours
        let report = try rollup.runOnce(nowMs: now)
        #expect(report.metricHours > 0)
        #expect(planned == report.metricHours, "the dry run said \(planned) hours, the run moved \(report.metricHours)")
        #expect(try coldCounterTotals(f)["\(hour)|created:email:low:billing"] == 302)
        #expect(try engine.execute(sql).rows == [[.int(302)]])
    }

    /// `strata compact --dry-run` counts an hour whose counts are all still in an open
    /// minute: the run folds the minute first and moves the hour (with `--metrics-age`
    /// under the minute retention, as here). It once counted only the hour index: 0 here.
    @Test func theDryRunCountsHoursThatAreStillOpenMinutes() async throws {
        let f = try await Fixture(tickets: 10, preload: false)
        let c = { (name: String) in Tables.tickets.index(of: name)! }
        let hour = floorDiv(wallClockMilliseconds(), 3_600_000) - 3
        let at = hour * 3_600_000 + 7 * 60_000
        let event = TicketEvent(op: .create, id: 31_337, writer: "svc", vv: [("svc", 1)],
                                fields: [(c("created_at"), .integer(at)), (c("updated_at"), .integer(at)), (c("status"), .string("new")),
                                         (c("channel"), .string("web")), (c("priority"), .string("high")), (c("queue"), .string("sales"))], at: at)
        #expect(try await f.hot.apply([event]) == [.accepted])
        #expect(try hotCounterTotals(f).isEmpty, "the counts are in the open minute only")
        var p = CompactionPolicy()
        p.hotAgeMs = 3650 * 86_400_000
        p.metricsHotAgeMs = 3_600_000
        let rollup = Compactor(pool: f.pool, layout: KeyLayout(), catalog: f.catalog, cold: f.cold, policy: p)
        let now = wallClockMilliseconds()
        #expect(try rollup.plan(nowMs: now).metricHours == 1)
        let report = try rollup.runOnce(nowMs: now)
        #expect(report.metricHours == 1)
        #expect(try coldCounterTotals(f)["\(hour)|created:web:high:sales"] == 1)
        #expect(try rollup.plan(nowMs: now).metricHours == 0, "nothing left to move")
    }

    @Test func hoursPastTheRetentionMoveToTicketMetricsExactlyOnce() async throws {
        let f = try await Fixture(tickets: 600)
        let before = try hotCounterTotals(f)
        #expect(before.count > 50 && before.keys.contains { $0.contains("|created:") })
        // Nothing is due while every hour is younger than the retention.
        let early = try compactor(f).runOnce(nowMs: 0)
        #expect(early.metricHours == 0)
        let report = try compactor(f).runOnce(nowMs: Self.later)
        #expect(report.metricHours > 0 && report.tickets == 0)
        #expect(try hotCounterTotals(f).isEmpty)
        #expect(try coldCounterTotals(f) == before)
        // No hour hash, moving key or index entry is left behind.
        let keys = try f.pool.pipelineBlocking([["KEYS", "st:*:h*"].map { Array($0.utf8) }])[0].array ?? []
        #expect(keys.isEmpty)
        // A ticket created late, in an hour already moved, is counted by the next run.
        var late = f.events.first { $0.op == .create }!
        late.id = 9_999_999
        #expect(try await f.hot.apply([late]) == [.accepted])
        let lateHot = try hotCounterTotals(f)
        #expect(!lateHot.isEmpty && lateHot.keys.allSatisfy { $0.hasPrefix("\(late.at / 3_600_000)|") })
        #expect(try compactor(f).runOnce(nowMs: Self.later).metricHours == 1)
        #expect(try coldCounterTotals(f) == before.merging(lateHot, uniquingKeysWith: +))
    }

    /// A Redis that comes back without a rollup's last writes (docs/tiering.md, "When Redis
    /// loses a run's deletes"):
    /// - `renames`: started again on its file as it was before the run, the hour hashes are
    ///   back whole (counted hot and cold until settled); one of them gets a count after the
    ///   restart, and one lost a count Redis had taken before the rename;
    /// - `drops`: on its file at the run's registration, the renames held: the moving keys are back;
    /// - `sentinels`: only the sentinels set after the drops are lost; an hour moved gets a
    ///   count after, which must stay.
    /// Each time the next check leaves every count counted once.
    @Test(arguments: ["renames", "drops", "sentinels"])
    func aRollupWhoseWritesRedisLostIsSettled(lost: String) async throws {
        let f = try await Fixture(tickets: 300, appendFsync: "everysec")
        let before = try hotCounterTotals(f)
        let c = compactor(f)
        var copy = lost == "renames" ? try f.copyAppendOnly(as: "aof-before-run") : ""
        c.afterStep = { kind, step in if lost == "drops" && kind == .rollup && step == .registered { copy = try f.copyAppendOnly(as: "aof-at-registration") } }
        let first = try c.runOnce(nowMs: Self.later)
        #expect(first.metricHours > 0 && first.tickets == 0)
        #expect(try coldCounterTotals(f) == before)
        #expect(try f.catalog.unsettledRuns().map(\.kind) == ["rollup"], "a rollup done keeps its counters until settled")
        let layout = KeyLayout()
        if lost == "sentinels" {
            _ = try f.pool.pipelineBlocking((0..<layout.shards).map { ["DEL", layout.compactionDeleted($0)].map { Array($0.utf8) } })
        } else {
            try f.restartRedis(onAppendOnlyCopy: copy)
        }
        let movingKeys = { try (f.pool.pipelineBlocking([["KEYS", "st:*:hm:*"].map { Array($0.utf8) }])[0].array ?? []).count }
        #expect(try hotCounterTotals(f) == (lost == "renames" ? before : [:]), "the hour hashes are back whole only if the renames were lost")
        #expect((try movingKeys() > 0) == (lost == "drops"), "the moving keys are back only if the drops were lost")
        var expectedHot = [String: Int64]()
        if lost != "drops" {
            // A ticket created after the restart, in an hour the run moved on the same shard.
            let held = try hotCounterTotals(f)
            var late = f.events.first { $0.op == .create }!
            late.id = try #require((9_999_000..<10_000_000).first { layout.shard(of: $0) == layout.shard(of: late.id) })
            #expect(try await f.hot.apply([late]) == [.accepted])
            expectedHot = try hotCounterTotals(f).merging(held.mapValues { -$0 }, uniquingKeysWith: +).filter { $0.value != 0 }
            #expect(!expectedHot.isEmpty)
        }
        if lost == "renames" {
            // A count Redis lost before the rename (its hash is back with one less than the run moved).
            let lostOne = try #require(before.keys.sorted().first { expectedHot[$0] == nil })
            let parts = lostOne.split(separator: "|", maxSplits: 1).map(String.init)
            let shard = try #require((0..<layout.shards).first { s in
                (try? f.pool.pipelineBlocking([["HEXISTS", layout.hourMetrics(s, hour: Int64(parts[0])!), parts[1]].map { Array($0.utf8) }])[0].int) == 1
            })
            _ = try f.pool.pipelineBlocking([["HINCRBY", layout.hourMetrics(shard, hour: Int64(parts[0])!), parts[1], "-1"].map { Array($0.utf8) }])
        }
        // Checked at once (a sentinel behind is proof enough), forgotten a minute on.
        let settled = try compactor(f).recoverOnce(nowMs: Self.later + 1_000)
        #expect(settled.redoneRuns == 1 && settled.recovered.count == 1, "\(settled.recovered)")
        let note = settled.recovered.first ?? ""
        #expect(note.contains("0 moving key(s)") == (lost != "drops") && note.contains(" 0 hour hash(es)") == (lost != "renames"), "\(note)")
        #expect(try movingKeys() == 0)
        #expect(try hotCounterTotals(f) == expectedHot)
        #expect(try coldCounterTotals(f) == before)
        #expect(try f.catalog.unsettledRuns().count == 1)
        #expect(try compactor(f).recoverOnce(nowMs: Self.later + 120_000).redoneRuns == 0, "its sentinels are set again")
        #expect(try f.catalog.unsettledRuns().isEmpty)
        // The next run moves the late count, once.
        _ = try compactor(f).runOnce(nowMs: Self.later + 120_000)
        #expect(try hotCounterTotals(f).isEmpty)
        #expect(try coldCounterTotals(f) == before.merging(expectedHot, uniquingKeysWith: +))
    }

    @Test func movedCountersArePackedAndReadBack() throws {
        let counters = [Catalog.MovedCounter(shard: 3, hour: 495_000, field: "created:email:low:billing", value: 7),
                        Catalog.MovedCounter(shard: 3, hour: -2, field: "queue with spaces\nand a newline ü", value: Int64.max),
                        Catalog.MovedCounter(shard: 3, hour: 1, field: "", value: -5)]
        let packed = Catalog.packCounters(counters)
        #expect(Catalog.unpackCounters(packed, shard: 3) == counters)
        #expect(Catalog.unpackCounters(Array(packed.dropLast()), shard: 3) == nil, "a cut record is refused")
        #expect(Catalog.unpackCounters(Array(packed.prefix(19)), shard: 3) == nil)
    }

    @Test(arguments: RunSaga.steps(of: .rollup).dropFirst())
    func aCrashAfterAnyStepIsUndoneOrFinished(_ step: RunStep) async throws {
        let f = try await Fixture(tickets: 300)
        let before = try hotCounterTotals(f)
        let c = compactor(f)
        c.afterStep = { if $0 == .rollup && $1 == step { throw InjectedCrash() } }
        #expect(throws: InjectedCrash.self) { _ = try c.runOnce(nowMs: Self.later) }
        // Every count is in exactly one place, whatever step the crash followed.
        let moved = try f.catalog.unfinishedRuns()
        #expect(moved.count == 1 && moved[0].kind == "rollup")
        let report = try compactor(f).runOnce(nowMs: Self.later)
        #expect(report.recovered.count == 1, "\(report.recovered)")
        #expect(try coldCounterTotals(f) == before)
        #expect(try hotCounterTotals(f).isEmpty)
        #expect(try f.catalog.unfinishedRuns().isEmpty)
        let keys = try f.pool.pipelineBlocking([["KEYS", "st:*:hm:*"].map { Array($0.utf8) }])[0].array ?? []
        #expect(keys.isEmpty)
        let files = try FileManager.default.contentsOfDirectory(atPath: f.cold.tableDirectory("ticket_metrics"))
        #expect(files.count == (try f.catalog.liveSegments(table: "ticket_metrics").count), "no orphan file: \(files)")
    }
}
