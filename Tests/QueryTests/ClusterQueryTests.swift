import Foundation
import Testing
import Compactor
import HotTier
import Query
import StrataCore
import SystemSupport
import StrataTesting

/// The compactor and the queries against a Redis Cluster give the same answers as against
/// one Redis: the same tickets, split the same way across the tiers, queried before and
/// after a compaction run.
@Suite(.serialized) struct ClusterQueryTests {
    @Test func answersOnAClusterEqualAnswersOnOneRedis() async throws {
        let single = try await TwoTierFixture(tickets: 2000)
        let cluster = try await TwoTierFixture(tickets: 2000, cluster: true)
        let queries = try analystQueries() + [
            "SELECT count(*), sum(version), count(DISTINCT customer_id) FROM tickets",
            "SELECT status, count(*) FROM tickets GROUP BY status ORDER BY status",
            "SELECT * FROM tickets WHERE id = 1990",
        ]
        func compare(_ stage: String) throws {
            for q in queries {
                let a = try single.engine.execute(q), b = try cluster.engine.execute(q)
                #expect(a.rows == b.rows, "\(stage): \(q.prefix(80))")
            }
        }
        try compare("before compaction")
        // Tickets older than the hot window move to segments, on both; the newest stay hot.
        var policy = CompactionPolicy()
        policy.hotAgeMs = 14 * 86_400_000
        let now = Timestamp.parse("2026-11-08T00:00:00Z")!
        var moved = [Int]()
        for f in [single, cluster] {
            let report = try Compactor(pool: f.pool, layout: KeyLayout(), catalog: f.catalog, cold: f.cold, policy: policy).runOnce(nowMs: now)
            moved.append(report.tickets)
        }
        #expect(moved[0] > 0 && moved[0] == moved[1], "the same tickets moved: \(moved)")
        try compare("after compaction")
        // The hot tier of the cluster shrank by as much as the single Redis's.
        let hotLeft = try [single, cluster].map { try $0.engine.execute("EXPLAIN SELECT count(*) FROM tickets").stats.hotRows }
        #expect(hotLeft[0] > 0 && hotLeft[0] == hotLeft[1], "\(hotLeft)")
    }
}

/// The analyst queries of examples/queries (DuckDB's dialect; DuckDB's answers are the expected ones).
func analystQueries() throws -> [String] {
    let dir = ProjectPaths.root + "/examples/queries"
    let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".sql") }.sorted()
    precondition(names.count >= 8, "examples/queries holds \(names.count) queries")
    return names.map { String(decoding: readWholeFile(dir + "/" + $0)!, as: UTF8.self) }
}
