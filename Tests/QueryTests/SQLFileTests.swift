import Foundation
import Testing
import Catalog
import ColdStore
import Tiering
import HotTier
import Ingest
import Query
import SystemSupport
import StrataTesting

/// The edge cases as data, in the style of DuckDB's sqllogictest: `Tests/QueryTests/sql/*.test`
/// hold queries over `sql/edge.csv` with their expected rows (tab-separated, NULL for null),
/// or `error <text>` for a query that must fail with that text. The expected rows are
/// DuckDB's: the same files are checked against DuckDB by `sqltest_duckdb.py`.
@Suite struct SQLFileTests {
    static let directory = ProjectPaths.root + "/Tests/QueryTests/sql"

    struct Case { var file: String; var sql: String; var expected: [String]; var error: String? }

    static func cases() -> [Case] {
        var out = [Case]()
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter({ $0.hasSuffix(".test") }).sorted() {
            let lines = String(decoding: readWholeFile(directory + "/" + name) ?? [], as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var i = 0
            while i < lines.count {
                let line = lines[i]
                guard line == "query" || line.hasPrefix("error ") else { i += 1; continue }
                var j = i + 1, sql = [String]()
                while j < lines.count && lines[j] != "----" && !lines[j].isEmpty { sql.append(lines[j]); j += 1 }
                var expected = [String]()
                if line == "query" {
                    j += 1
                    while j < lines.count && !lines[j].isEmpty { expected.append(lines[j]); j += 1 }
                }
                out.append(Case(file: name, sql: sql.joined(separator: " "), expected: expected, error: line == "query" ? nil : String(line.dropFirst(6))))
                i = j
            }
        }
        return out
    }

    @Test func everyFileAnswersAsExpected() throws {
        let dir = try TemporaryDirectory(prefix: "sqlfiles")
        defer { dir.remove() }
        let cold = ColdDirectory(dataDirectory: dir.path + "/data")
        _ = try cold.prepare(table: "tickets")
        let catalog = try Catalog(path: cold.catalogPath)
        _ = try TicketImporter(cold: cold, catalog: catalog).run(files: [Self.directory + "/edge.csv"])
        let engine = QueryEngine(source: TieredTableSource(pool: nil, layout: KeyLayout(), coldTier: ColdTier(cold: cold)))
        let cases = Self.cases()
        #expect(cases.count >= 25, "the files hold the edge cases")
        var failures = [String]()
        for c in cases {
            switch (engine.result(c.sql), c.error) {
            case (.failure(let e), let wanted?):
                if !e.message.contains(wanted) { failures.append("\(c.file): \(c.sql): error \"\(e.message)\" lacks \"\(wanted)\"") }
            case (.success, let wanted?):
                failures.append("\(c.file): \(c.sql): should fail with \(wanted)")
            case (.failure(let e), nil):
                failures.append("\(c.file): \(c.sql): \(e)")
            case (.success(let r), nil):
                let got = r.rows.map { row in row.enumerated().map { k, v in Formatter.text(v, r.columns[k].type) }.joined(separator: "\t") }
                func same(_ a: String, _ b: String) -> Bool {
                    if a == b { return true }
                    guard let x = Double(a), let y = Double(b) else { return false }
                    return abs(x - y) <= 1e-9 * max(1, abs(x), abs(y))
                }
                let equal = got.count == c.expected.count && zip(got, c.expected).allSatisfy { g, e in
                    let gs = g.split(separator: "\t", omittingEmptySubsequences: false), es = e.split(separator: "\t", omittingEmptySubsequences: false)
                    return gs.count == es.count && zip(gs, es).allSatisfy { same(String($0), String($1)) }
                }
                if !equal { failures.append("\(c.file): \(c.sql):\n  expected \(c.expected)\n  got      \(got)") }
            }
        }
        #expect(failures == [])
    }

    @Test func theExpectedRowsAreDuckDBs() throws {
        let code = try ChildProcess.run(ProjectPaths.python(), [ProjectPaths.root + "/Tests/QueryTests/sqltest_duckdb.py", Self.directory])
        #expect(code == 0, "sqltest_duckdb.py found a file whose expected rows differ from DuckDB's")
    }
}
