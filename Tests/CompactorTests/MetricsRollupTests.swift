import Testing
import Foundation
import Catalog
import ColdStore
import HotTier
import RedisClient
import SegmentFormat
import StrataCore
@testable import Compactor

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
