#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import Catalog
import ColdStore
import Tiering
import HotTier
import Ingest
@testable import Query
import RedisClient
import StrataCore
import SystemSupport
import StrataTesting
import Workload


/// Tickets split across the tiers: most imported cold, the rest written hot as create
/// events, and some in both (hot wins); DuckDB holds all of them once.
final class TwoTierFixture {
    let dir: TemporaryDirectory
    let redis: TestRedis?
    /// Set when the hot tier is a Redis Cluster.
    let cluster: LocalCluster?
    let pool: RedisPool
    let catalog: Catalog
    let cold: ColdDirectory
    let csv: String
    var engine: QueryEngine
    var hotCount = 0

    /// `cluster`: the hot tier on a 3-master Redis Cluster instead of one Redis.
    init(tickets: Int, cluster useCluster: Bool = false) async throws {
        dir = try TemporaryDirectory(prefix: "query")
        csv = dir.path + "/all.csv"
        try Generator.writeSnapshot(rows: tickets, format: .csv, to: csv)
        let lines = String(decoding: readWholeFile(csv)!, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
        let header = lines[0], rows = Array(lines.dropFirst())
        let coldRows = rows.count * 7 / 10
        precondition(rows.count == tickets, "the snapshot has \(rows.count) rows, not \(tickets)")
        try writeWholeFile(dir.path + "/cold.csv", Array(([header] + rows[0..<coldRows]).joined(separator: "\n").utf8))
        let cold = ColdDirectory(dataDirectory: dir.path + "/data")
        _ = try cold.prepare(table: "tickets")
        self.cold = cold
        catalog = try Catalog(path: cold.catalogPath)
        _ = try TicketImporter(cold: cold, catalog: catalog, segmentRows: 1024, rowGroupSize: 256).run(files: [dir.path + "/cold.csv"])
        if useCluster {
            let c = try LocalCluster(masters: 3)
            cluster = c
            redis = nil
            pool = c.pool
        } else {
            let server = try TestRedis(prefix: "query-hot")
            redis = server
            cluster = nil
            pool = server.pool
        }
        // Hot: the last 30%, and every 20th cold ticket again (the same values: hot wins, counted once).
        let names = header.split(separator: ",").map(String.init)
        var events = [TicketEvent]()
        for (k, line) in rows.enumerated() where k >= coldRows || k % 20 == 0 {
            events.append(try Self.createEvent(names: names, line: line))
        }
        hotCount = events.count
        let hot = HotTier(pool: pool)
        for start in stride(from: 0, to: events.count, by: 500) { _ = try await hot.apply(Array(events[start..<min(start + 500, events.count)])) }
        engine = QueryEngine(source: TieredTableSource(pool: pool, layout: KeyLayout(), coldTier: ColdTier(cold: cold)))
    }

    static func createEvent(names: [String], line: String) throws -> TicketEvent {
        var scratch = [UInt8](), fields = [Range<Int>]()
        let bytes = Array(line.utf8)
        try bytes.withUnsafeBytes { try CSVParser.fields(of: $0, scratch: &scratch, fields: &fields) }
        return try TicketEvent.create(snapshotHeader: names, values: fields.map { String(decoding: scratch[$0], as: UTF8.self) })
    }

    /// DuckDB's answers to `queries` over all the tickets.
    func duckdb(_ queries: [String], timeZone: String = "UTC") throws -> [JSONValue] {
        let qpath = dir.path + "/queries.json", out = dir.path + "/duckdb.ndjson"
        let json = "[" + queries.map { jsonString($0) }.joined(separator: ",") + "]"
        try writeWholeFile(qpath, Array(json.utf8))
        let code = try ChildProcess.run("/bin/sh", ["-c", "\"$0\" \"$1\" \"$2\" \"$3\" \"$4\" > \"$5\"", ProjectPaths.python(),
                                                    ProjectPaths.root + "/Tests/QueryTests/duckdb_oracle.py", csv, qpath, timeZone, out])
        guard code == 0 else { throw OracleUnavailable(python: ProjectPaths.python(), code: code) }
        return try String(decoding: readWholeFile(out)!, as: UTF8.self).split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
    }

    deinit {
        dir.remove()
    }
}

/// Both answers as text cells; numbers compare with a relative tolerance of 1e-9.
func sameAnswer(_ strata: QueryResult, _ duck: JSONValue, ordered: Bool) -> String? {
    guard case .array(let rows)? = duck["rows"] else { return "DuckDB failed: \(duck)" }
    let theirs: [[String?]] = rows.map { r in
        guard case .array(let cells) = r else { return [] }
        return cells.map { if case .string(let s) = $0 { return s } else { return nil } }
    }
    let ours: [[String?]] = strata.rows.map { row in row.enumerated().map { c, v in v.isNull ? nil : Formatter.text(v, strata.columns[c].type, zone: strata.timeZone) } }
    guard ours.count == theirs.count else { return "\(ours.count) rows, DuckDB has \(theirs.count)" }
    func same(_ a: String?, _ b: String?) -> Bool {
        if a == b { return true }
        guard let a, let b, let x = Double(a), let y = Double(b) else { return false }
        return abs(x - y) <= 1e-9 * max(1, abs(x), abs(y))
    }
    func rowsEqual(_ a: [String?], _ b: [String?]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { same($0, $1) } }
    if ordered {
        for (i, (a, b)) in zip(ours, theirs).enumerated() where !rowsEqual(a, b) { return "row \(i): \(a) != DuckDB \(b)" }
        return nil
    }
    var remaining = theirs
    for a in ours {
        guard let k = remaining.firstIndex(where: { rowsEqual(a, $0) }) else { return "row \(a) not in DuckDB's answer" }
        remaining.remove(at: k)
    }
    return nil
}

@Suite(.serialized) struct OracleTests {
    /// The analyst queries of examples/queries and edge cases, against DuckDB.
    @Test func answersEqualDuckDBsAcrossBothTiers() async throws {
        let f = try await TwoTierFixture(tickets: 3000)
        var queries = try analystQueries()
        // q10 looks up an id of the 10M set: also look up ids that exist here, cold and hot.
        queries += [
            "SELECT * FROM tickets WHERE id = 5",
            "SELECT * FROM tickets WHERE id = 2990",
            "SELECT * FROM tickets WHERE id = 21",
            "SELECT count(*) FROM tickets WHERE tags = ''",
            "SELECT priority, avg(first_response_at - created_at), median(solved_at - created_at), max(closed_at - created_at), count(DISTINCT date_trunc('hour', first_response_at) - date_trunc('hour', created_at)) FROM tickets GROUP BY priority ORDER BY priority",
            "SELECT count(*), count(*) FILTER (WHERE solved_at - created_at > INTERVAL '1 day') FROM tickets WHERE created_at > TIMESTAMPTZ '2026-11-20 00:00:00+00' - INTERVAL '2 weeks'",
            "SELECT channel, round(avg(epoch(first_response_at - created_at)) / 60, 3) AS minutes FROM tickets GROUP BY channel ORDER BY minutes DESC",
            "SELECT id FROM tickets WHERE id <= 3 ORDER BY id",
            "SELECT count(*) FROM tickets WHERE id >= 2995",
            "SELECT id, status, version FROM tickets WHERE id BETWEEN 2095 AND 2105 ORDER BY id",
            "SELECT count(*), count(DISTINCT queue), min(created_at), max(updated_at), sum(reopen_count) FROM tickets",
            // DISTINCT over close integers (bitmaps), spread ones (tables) and both merged across threads.
            "SELECT CAST(date_trunc('week', created_at) AS DATE) AS week, count(DISTINCT customer_id), count(DISTINCT id), count(DISTINCT created_at), sum(DISTINCT customer_id), avg(DISTINCT agent_id), sum(DISTINCT epoch_ms(created_at)) FROM tickets GROUP BY week ORDER BY week",
            "SELECT status, count(*) AS n FROM tickets GROUP BY status HAVING count(*) > 10 ORDER BY n DESC, status",
            "SELECT channel, avg(satisfaction) AS a, median(satisfaction) AS m FROM tickets WHERE satisfaction IS NOT NULL GROUP BY 1 ORDER BY 1",
            "SELECT id, subject FROM tickets WHERE subject ILIKE '%refund%' AND priority IN ('high', 'urgent') ORDER BY id LIMIT 7 OFFSET 2",
            "SELECT CASE WHEN reopen_count > 0 THEN 'reopened' ELSE 'once' END AS kind, count(*) FROM tickets GROUP BY kind ORDER BY kind",
            "SELECT date_part('dow', created_at) AS d, count(*) FROM tickets GROUP BY d ORDER BY d",
            "SELECT coalesce(agent_id, -1) AS agent, count(*) FROM tickets GROUP BY agent ORDER BY agent LIMIT 5",
            "SELECT id FROM tickets WHERE created_at BETWEEN TIMESTAMPTZ '2026-09-01 00:00:00+00' AND TIMESTAMPTZ '2026-09-02 00:00:00+00' ORDER BY id",
            "SELECT count(*) FROM tickets WHERE satisfaction > 10",
            "SELECT sum(satisfaction), avg(satisfaction), min(subject), count(first_response_at) FROM tickets WHERE id < 0",
            "SELECT queue, count(*) FILTER (WHERE status = 'closed') AS closed, quantile_cont(reopen_count, 0.75) AS q FROM tickets GROUP BY queue ORDER BY closed DESC, queue",
            "SELECT 7 / 2 AS a, 7 % 2 AS b, 1 / 0 AS c, -1 / 0 AS e, -(3 * 4) AS d FROM tickets WHERE id = 1",
            "SELECT CAST(created_at AS DATE) AS day, count(*) FROM tickets GROUP BY day ORDER BY day DESC NULLS LAST LIMIT 3",
            // WITH and subqueries in FROM.
            "WITH daily AS (SELECT CAST(created_at AS DATE) AS day, count(*) AS n FROM tickets GROUP BY day) SELECT max(n), min(n), avg(n), count(*) FROM daily",
            "SELECT queue, solved FROM (SELECT queue, count(*) FILTER (WHERE status IN ('solved', 'closed')) AS solved FROM tickets GROUP BY queue) t WHERE solved > 10 ORDER BY solved DESC, queue",
            "WITH a AS (SELECT id, reopen_count FROM tickets WHERE reopen_count > 0), b AS (SELECT count(*) AS n, sum(reopen_count) AS r FROM a) SELECT n, r, r / n AS per FROM b",
            "SELECT id, updated_at FROM tickets ORDER BY updated_at DESC, id LIMIT 5",
            "SELECT count(*), sum(version) FROM tickets WHERE customer_id IN (SELECT customer_id FROM tickets WHERE priority = 'urgent')",
            "SELECT channel, count(*) FROM tickets WHERE agent_id NOT IN (SELECT agent_id FROM tickets WHERE satisfaction = 1 AND agent_id IS NOT NULL) GROUP BY channel ORDER BY channel",
            "SELECT day, n FROM (SELECT date_trunc('week', created_at) AS day, count(*) AS n FROM tickets GROUP BY 1) AS w ORDER BY n DESC, day LIMIT 3",
        ]
        // Top-N keeps ORDER BY … LIMIT within the row limit, whatever the table's size.
        var small = f.engine
        small.maxResultRows = 100
        let top = try small.execute("SELECT id, updated_at FROM tickets ORDER BY updated_at DESC, id LIMIT 5")
        #expect(top.rows.count == 5)
        #expect(throws: QueryError.self) { _ = try small.execute("SELECT id FROM tickets ORDER BY id") }
        // A streamed plain scan is bounded by maxStreamedRows, not by the result-row limit.
        var streaming = f.engine
        streaming.maxResultRows = 5
        var streamed = 0
        _ = try streaming.stream("SELECT id FROM tickets", start: { _ in }, rows: { streamed += $0.count; return true })
        #expect(streamed == 3000)
        streaming.maxStreamedRows = 10
        do {
            _ = try streaming.stream("SELECT id FROM tickets", start: { _ in }, rows: { _ in true })
            Issue.record("more than 10 streamed rows passed")
        } catch {
            #expect(error.kind == .limit && error.message.contains("more than 10 streamed rows"))
        }
        // The hash table's limit on groups is an error that names it, not a wrong answer.
        var fewGroups = f.engine
        fewGroups.maxGroups = 10
        guard case .failure(let groups) = fewGroups.result("SELECT id, count(*) FROM tickets GROUP BY id") else { Issue.record("11+ groups passed"); return }
        #expect(groups.kind == .limit && groups.message.contains("more than 10 groups"))
        #expect(try fewGroups.execute("SELECT channel, count(*) FROM tickets GROUP BY channel").rows.count == 6)
        // So is the limit on values held for DISTINCT aggregates.
        var fewValues = f.engine
        fewValues.maxDistinctValues = 100
        guard case .failure(let values) = fewValues.result("SELECT channel, count(DISTINCT id) FROM tickets GROUP BY channel") else { Issue.record("100+ distinct values passed"); return }
        #expect(values.kind == .limit && values.message.contains("more than 100 distinct values"), "\(values)")
        #expect(try fewValues.execute("SELECT channel, count(DISTINCT priority) FROM tickets GROUP BY channel").rows.count == 6)
        // DISTINCT values waiting per group give the same answers whenever they go in.
        let distinctQuery = "SELECT CAST(date_trunc('week', created_at) AS DATE) AS week, channel, count(DISTINCT customer_id), count(DISTINCT created_at), sum(DISTINCT agent_id) FROM tickets GROUP BY week, channel ORDER BY week, channel"
        var smallBatches = f.engine
        smallBatches.distinctBatching = DistinctBatching(flush: 3, pendingLimit: 40)
        smallBatches.threads = 2
        let batched = try smallBatches.execute(distinctQuery), whole = try f.engine.execute(distinctQuery)
        #expect(batched.rows.count > 20 && batched.rows == whole.rows)
        let duck = try f.duckdb(queries)
        var failures = [String]()
        // One thread, then three: each thread's hash table or rows merged give the same answers.
        var threaded = f.engine
        threaded.threads = 3
        for engine in [f.engine, threaded] {
            for (q, d) in zip(queries, duck) {
                switch engine.result(q) {
                case .failure(let e): failures.append("\(engine.threads) thread(s): \(q.prefix(60)): \(e)")
                case .success(let r):
                    if let problem = sameAnswer(r, d, ordered: q.lowercased().contains("order by")) { failures.append("\(engine.threads) thread(s): \(q.prefix(80)): \(problem)") }
                }
            }
        }
        #expect(failures == [])
        // Errors DuckDB also raises, with a clear message.
        for (q, expected) in [("SELECT 1 % 0 FROM tickets WHERE id = 1", "division by zero"),
                              ("SELECT sum(customer_id * 4611686018427387904) FROM tickets", "integer overflow")] {
            guard case .failure(let e) = f.engine.result(q) else { Issue.record("\(q) should fail"); continue }
            #expect(e.message.contains(expected), "\(e)")
        }
        // Each ticket once: the hot copies of cold tickets are not counted twice.
        let total = try f.engine.execute("SELECT count(*) FROM tickets")
        #expect(total.rows == [[.int(3000)]])
    }

    /// Day and week boundaries in a zone with a daylight-saving change inside the data
    /// (America/New_York, 2026-11-01), as DuckDB with `SET TimeZone`.
    @Test(arguments: ["America/New_York", "Asia/Kolkata"])
    func timeZonesMoveDayAndWeekBoundariesAsInDuckDB(_ zone: String) async throws {
        let f = try await TwoTierFixture(tickets: 2000)
        var engine = f.engine
        engine.timeZone = try #require(TimeZoneRule.named(zone))
        let queries = [
            "SELECT CAST(created_at AS DATE) AS day, count(*) FROM tickets GROUP BY day ORDER BY day",
            "SELECT date_trunc('week', created_at) AS w, count(*) FROM tickets GROUP BY w ORDER BY w",
            "SELECT date_part('hour', updated_at) AS h, count(*) FROM tickets GROUP BY h ORDER BY h",
            "SELECT id, created_at, date_trunc('day', updated_at) FROM tickets WHERE created_at >= '2026-10-31 22:00:00' AND created_at < TIMESTAMP '2026-11-01 06:00:00' ORDER BY id",
            "SELECT count(*) FROM tickets WHERE created_at >= DATE '2026-10-01' AND created_at < DATE '2026-10-02'",
            // Interval arithmetic across the change: whole wall-clock days, then real time.
            "SELECT id, updated_at - created_at, created_at + INTERVAL '1 day', created_at - INTERVAL '1 month 2 hours' FROM tickets WHERE created_at >= '2026-10-30 00:00:00' AND created_at < '2026-11-03 00:00:00' ORDER BY id",
            "SELECT CAST(created_at AS DATE) AS day, avg(updated_at - created_at), max(updated_at - created_at) FROM tickets GROUP BY day ORDER BY day",
        ]
        let duck = try f.duckdb(queries, timeZone: zone)
        for (q, d) in zip(queries, duck) {
            let r = try engine.execute(q)
            #expect(sameAnswer(r, d, ordered: true) == nil, "\(zone): \(q): \(sameAnswer(r, d, ordered: true) ?? "")")
        }
    }

    @Test func explainShowsWhatIsPruned() async throws {
        let f = try await TwoTierFixture(tickets: 3000)
        let plan = try f.engine.execute("EXPLAIN SELECT * FROM tickets WHERE id = 5").rows.map { Formatter.text($0[0], .varchar) }
        #expect(plan.contains { $0.contains("prune by id in [5, 5]") })
        // 2100 cold rows in segments of 1024, row groups of 256: one segment and one row group can hold id 5.
        #expect(plan.contains { $0.contains("3 segment(s), 2 pruned by the catalog's ranges; 4 row group(s) read, 3 pruned") }, "\(plan)")
        // IS NOT NULL on an integer column is a range too, shown as such.
        let notNull = try f.engine.execute("EXPLAIN SELECT count(*) FROM tickets WHERE satisfaction IS NOT NULL AND id > 10").rows.map { Formatter.text($0[0], .varchar) }
        #expect(notNull.contains { $0.contains("prune by id in [11, 9223372036854775807], satisfaction not null") }, "\(notNull)")
    }
}

/// DuckDB could not be asked: usually a Python without the duckdb module.
struct OracleUnavailable: Error, CustomStringConvertible {
    let python: String
    let code: Int32
    var description: String {
        "duckdb_oracle.py exited with \(code) under \(python): run scripts/python-env and set STRATA_PYTHON to the Python it prints"
    }
}
