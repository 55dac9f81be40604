import Testing
import ColdStore
import HotTier
import StrataCore
@testable import Compactor

/// Compaction with the disk failing after N file operations, for every N until a run needs
/// fewer (SQLite's way of testing I/O errors), for each kind of run: each failed run leaves
/// every ticket readable exactly once, and the next run recovers it to the expected state.
@Suite(.serialized) struct IOFaultTests {
    @Test func aDiskThatFailsAtAnyPointLosesAndDoublesNothing() async throws {
        let f = try await Fixture(tickets: 600)
        // Late enough that every hour of counters is due.
        let now = Fixture.now + 30 * 86_400_000
        var base = CompactionPolicy()
        base.hotAgeMs = 40 * 86_400_000
        base.maxTicketsPerRun = 0
        base.metricsHotAgeMs = 3650 * 86_400_000
        base.merge = nil
        var migrate = base
        migrate.maxTicketsPerRun = 50
        var rollup = base
        rollup.metricsHotAgeMs = 48 * 3_600_000
        func compact(_ policy: CompactionPolicy) throws { _ = try Compactor(pool: f.pool, layout: KeyLayout(), catalog: f.catalog, cold: f.cold, policy: policy).runOnce(nowMs: now) }
        let phases: [(RunKind, () throws -> Void)] = [
            (.migrate, { try compact(migrate) }),
            (.rollup, { try compact(rollup) }),
            (.merge, { _ = try SegmentMerger(catalog: f.catalog, cold: f.cold).run(table: Tables.tickets, nowMs: now) }),
        ]
        for (kind, run) in phases {
            if kind == .merge {
                for _ in 0..<3 { try compact(migrate) }  // four small segments: a merge is due
                #expect(try f.catalog.liveSegments(table: "tickets").count == 4)
            }
            var operations = 0, failedRuns = 0, leftUnfinished = 0
            while true {
                IOFaults.failAfter(operations, under: f.cold.dataDirectory)
                var failure: String? = nil
                do { try run() } catch { failure = "\(error)" }
                let failed = IOFaults.disarm()
                if failed == 0 { break }  // the run needed fewer operations: every point was tried
                #expect(failure?.contains("injected fault") == true, "\(kind), fault after \(operations) operations: \(failure ?? "the run succeeded")")
                failedRuns += 1
                if try f.catalog.unfinishedRuns().contains(where: { $0.kind == kind.rawValue }) { leftUnfinished += 1 }
                // At every instant, even before recovery, each ticket is read exactly once.
                let (hot, cold) = try f.checkExactlyOnce()
                #expect(hot + cold == 600, "\(kind), fault after \(operations) operations")
                // The next run (the disk healthy again) recovers what the failed one left.
                try compact(base)
                #expect(try f.catalog.unfinishedRuns().isEmpty)
                _ = try f.checkExactlyOnce()
                // Every operation of a migration and a rollup; a merge mostly reads its inputs
                // block by block (verifying, then merging), so past its first 20 one in 4.
                operations += kind == .merge && operations >= 20 ? 4 : 1
                #expect(operations < 500, "\(kind): a run of more than 500 file operations")
                if operations >= 500 { break }
            }
            print("IOFaultTests: \(kind): \(failedRuns) runs failed, at operations 0..<\(operations), \(leftUnfinished) of them mid-run")
            #expect(failedRuns >= 5 && leftUnfinished > 0, "\(kind): the faults struck the run in mid-run")
        }
        #expect(try f.catalog.liveSegments(table: "ticket_metrics").count == 1)
        let onDisk = Set(try f.cold.allSegments().map { f.cold.relativePath($0) })
        let known = Set(try f.catalog.allSegments().filter { $0.state == "live" || $0.state == "retired" }.map(\.file))
        #expect(onDisk.isSubset(of: known), "no orphan files: \(onDisk.subtracting(known).sorted())")
    }
}
