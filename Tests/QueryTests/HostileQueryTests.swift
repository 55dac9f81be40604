#if canImport(Glibc)
import Glibc
#endif
import Testing
import Catalog
import ColdStore
import Tiering
import HotTier
import Ingest
import Query
import SystemSupport
import StrataTesting

/// Runs `body` on a thread with a 4 MiB stack, half of what the daemon's threads get from
/// Linux by default. A debug build needs about 2 MiB for an expression at the depth limit
/// (release: under 1 MiB); a walk that recursed once per operator of a 3,000-term chain would
/// need 15 times that, overflow, and crash the test process, which is how these tests fail.
func onSmallStack(_ body: @escaping @Sendable () -> Void) { OSThread.run(stackBytes: 4 << 20, body) }

/// Queries shaped to exhaust the stack (issue 13, B1): every shape of deep tree is refused
/// with a limit error naming the depth, or, for long AND/OR chains, answered.
@Suite(.serialized) struct HostileQueryTests {
    static func engine() throws -> (QueryEngine, TemporaryDirectory) {
        let dir = try TemporaryDirectory(prefix: "hostile")
        let cold = ColdDirectory(dataDirectory: dir.path + "/data")
        _ = try cold.prepare(table: "tickets")
        let catalog = try Catalog(path: cold.catalogPath)
        _ = try TicketImporter(cold: cold, catalog: catalog).run(files: [ProjectPaths.root + "/Tests/QueryTests/sql/edge.csv"])
        return (QueryEngine(source: TieredTableSource(pool: nil, layout: KeyLayout(), coldTier: ColdTier(cold: cold))), dir)
    }

    static let deepShapes: [(String, String)] = [
        ("unary minus", "SELECT " + String(repeating: "- ", count: 5000) + "id FROM tickets"),
        ("NOT", "SELECT count(*) FROM tickets WHERE " + String(repeating: "NOT ", count: 5000) + "id = 1"),
        ("a + chain", "SELECT " + Array(repeating: "1", count: 3000).joined(separator: " + ") + " AS x FROM tickets LIMIT 1"),
        ("a || chain", "SELECT " + Array(repeating: "'a'", count: 3000).joined(separator: " || ") + " AS x FROM tickets"),
        ("a * chain", "SELECT " + Array(repeating: "id", count: 3000).joined(separator: " * ") + " AS x FROM tickets"),
        ("a cast chain", "SELECT id" + String(repeating: "::bigint", count: 3000) + " FROM tickets"),
        ("nested calls", "SELECT " + String(repeating: "abs(", count: 1000) + "id" + String(repeating: ")", count: 1000) + " FROM tickets"),
        ("nested CASE", "SELECT " + String(repeating: "CASE WHEN id = 1 THEN 1 ELSE ", count: 800) + "0" + String(repeating: " END", count: 800) + " FROM tickets"),
        ("a + chain in a subquery", "SELECT count(*) FROM tickets WHERE id IN (SELECT " + Array(repeating: "id", count: 3000).joined(separator: " + ") + " FROM tickets)"),
        ("a chain in GROUP BY and ORDER BY", "SELECT count(*) FROM tickets GROUP BY " + Array(repeating: "id", count: 3000).joined(separator: " - ")),
    ]

    @Test(arguments: deepShapes.map(\.0))
    func aDeepTreeIsRefusedWithALimitError(_ shape: String) throws {
        let (e0, dir) = try Self.engine()
        nonisolated(unsafe) let engine = e0
        defer { dir.remove() }
        let sql = Self.deepShapes.first { $0.0 == shape }!.1
        nonisolated(unsafe) var outcome: Result<QueryResult, QueryError>?
        onSmallStack { outcome = engine.result(sql) }
        guard case .failure(let e)? = outcome else { Issue.record("\(shape): answered"); return }
        #expect(e.kind == .limit, "\(shape): \(e)")
        #expect(e.message.contains("over the limit of 200") || e.message.contains("nested deeper than 200"), "\(shape): \(e.message)")
    }

    /// Thousands of OR terms (a list of ids written out) or AND terms are one balanced tree:
    /// answered, with the same answer as the IN list.
    @Test func longAndOrChainsAreAnswered() throws {
        let (e0, dir) = try Self.engine()
        nonisolated(unsafe) let engine = e0
        defer { dir.remove() }
        let or = "SELECT count(*) AS n FROM tickets WHERE " + (1...2000).map { "id = \($0 * 2)" }.joined(separator: " OR ")
        let and = "SELECT count(*) AS n FROM tickets WHERE " + (1...2000).map { "id <> \($0 * 3)" }.joined(separator: " AND ")
        nonisolated(unsafe) var answers = [String]()
        onSmallStack {
            for sql in [or, and, "SELECT count(*) AS n FROM tickets WHERE id IN (2, 4, 6, 8)", "SELECT count(*) AS n FROM tickets WHERE id NOT IN (3, 6)"] {
                switch engine.result(sql) {
                case .success(let r): answers.append("\(r.rows)")
                case .failure(let e): answers.append("error: \(e)")
                }
            }
        }
        #expect(answers.count == 4 && answers[0] == answers[2] && answers[1] == answers[3], "\(answers)")
        #expect(!answers[0].hasPrefix("error"))
    }

    /// Just under the limit still works, on the small stack too.
    @Test func aChainJustUnderTheLimitIsAnswered() throws {
        let (e0, dir) = try Self.engine()
        nonisolated(unsafe) let engine = e0
        defer { dir.remove() }
        let sql = "SELECT " + Array(repeating: "1", count: 150).joined(separator: " + ") + " AS x FROM tickets LIMIT 1"
        nonisolated(unsafe) var outcome: Result<QueryResult, QueryError>?
        onSmallStack { outcome = engine.result(sql) }
        guard case .success(let r)? = outcome else { Issue.record("\(String(describing: outcome))"); return }
        #expect("\(r.rows)".contains("150"), "\(r.rows)")
    }

    /// B6: qualified columns mean what they say; a correlated IN is refused, not run as another query.
    @Test func qualifiedColumnsAnswerAsUnqualifiedOnesAndCorrelationIsRefused() throws {
        let (e0, dir) = try Self.engine()
        nonisolated(unsafe) let engine = e0
        defer { dir.remove() }
        func rows(_ sql: String) -> String {
            switch engine.result(sql) {
            case .success(let r): return "\(r.rows)"
            case .failure(let e): return "error: \(e.kind) \(e.message)"
            }
        }
        #expect(rows("SELECT t.id, t.status FROM tickets t WHERE t.id > 2 ORDER BY t.id") == rows("SELECT id, status FROM tickets WHERE id > 2 ORDER BY id"))
        #expect(rows("SELECT count(*) FROM tickets t WHERE t.id IN (SELECT s.id FROM tickets s WHERE s.status = 'solved')")
                == rows("SELECT count(*) FROM tickets WHERE id IN (SELECT id FROM tickets WHERE status = 'solved')"))
        #expect(rows("SELECT count(*) FROM tickets t WHERE t.id IN (SELECT e.id FROM tickets e WHERE e.id = t.id)").hasPrefix("error: unsupported correlated subqueries"))
        #expect(rows("SELECT x.id FROM tickets t").hasPrefix("error: name 'x.id': no table named x"))
    }

    /// B7: a BIGINT past 2^53 with a literal such as 2.0 is exact in DuckDB (DECIMAL) and was
    /// rounded here (12345678901111111 % 2.0 gave 0, DuckDB 1): now it is a clear error.
    @Test func anIntegerThatADoubleCannotHoldIsRefusedNotRounded() throws {
        let (e0, dir) = try Self.engine()
        nonisolated(unsafe) let engine = e0
        defer { dir.remove() }
        guard case .failure(let e) = engine.result("SELECT 12345678901111111 % 2.0 FROM tickets WHERE id = 1") else { Issue.record("answered"); return }
        #expect(e.kind == .execution && e.message.contains("12345678901111111 cannot be held exactly as a DOUBLE"), "\(e)")
        guard case .success(let r) = engine.result("SELECT 12345678901111111 % 2, CAST(12345678901111111 AS DOUBLE) + 0.5 FROM tickets WHERE id = 1") else { Issue.record("refused"); return }
        #expect("\(r.rows)".contains("int(1)"), "\(r.rows)")
    }

    /// epoch_ms(BIGINT) is a timestamp (as in DuckDB) within the years Strata holds (1 to 9999;
    /// DuckDB holds more): past them a clear error, not a wrapped date.
    @Test func epochMillisecondsOutsideTheTimestampsAreRefused() throws {
        let (e0, dir) = try Self.engine()
        nonisolated(unsafe) let engine = e0
        defer { dir.remove() }
        guard case .failure(let e) = engine.result("SELECT epoch_ms(253402300800000) FROM tickets WHERE id = 1") else { Issue.record("answered"); return }
        #expect(e.kind == .execution && e.message.contains("outside the timestamps Strata holds"), "\(e)")
        guard case .success(let r) = engine.result("SELECT epoch_ms(253402300799999) FROM tickets WHERE id = 1") else { Issue.record("refused"); return }
        #expect(r.columns.first?.type == .timestamp && "\(r.rows)".contains("253402300799999"), "\(r.rows)")
    }
}
