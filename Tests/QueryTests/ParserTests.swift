import Testing
@testable import Query

@Suite struct ParserTests {
    func error(_ sql: String) -> QueryError? {
        do { _ = try Binder.bind(try Parser.parse(sql)); return nil } catch { return error }
    }

    @Test func syntaxErrorsPointAtTheColumn() {
        let sql = "SELECT id,\n  count(* FROM tickets"
        let e = error(sql)
        #expect(e?.kind == .syntax)
        #expect(e?.rendered(sql: sql) == "syntax error at line 2, column 11: expected ')' but found 'FROM'\n    count(* FROM tickets\n            ^")
    }

    @Test func unknownNamesSuggestTheNearest() {
        #expect(error("SELECT stauts FROM tickets")?.message == "unknown column 'stauts' in table tickets; did you mean status?")
        #expect(error("SELECT * FROM tickts")?.message.hasPrefix("unknown table 'tickts'; did you mean tickets?") == true)
        #expect(error("SELECT _merge_state FROM tickets")?.kind == .name, "hidden columns are not visible")
    }

    @Test func outsideTheSubsetIsAClearError() {
        for sql in ["WITH RECURSIVE x AS (SELECT 1 FROM tickets) SELECT * FROM x", "SELECT * FROM tickets JOIN ticket_events ON true",
                    "WITH x AS (SELECT id FROM tickets), x AS (SELECT id FROM tickets) SELECT * FROM x",
                    "SELECT created_at * 2 FROM tickets", "SELECT INTERVAL '1 day' + 1 FROM tickets",
                    "SELECT DISTINCT count(*) FROM tickets",
                    "SELECT rank() OVER () FROM tickets", "SELECT frobnicate(id) FROM tickets"] {
            #expect(error(sql) != nil, "\(sql)")
        }
        #expect(error("SELECT status, count(*) FROM tickets")?.message == "column 'status' must appear in GROUP BY or be used in an aggregate function")
        #expect(error("SELECT * FROM tickets WHERE count(*) > 1")?.message == "aggregates are not allowed in WHERE (use HAVING)")
        #expect(error("SELECT 'a' + 1 FROM tickets")?.kind == .type)
    }

    @Test func limitsAreEnforced() {
        let long = "SELECT " + String(repeating: "1 + ", count: 20_000) + "1 FROM tickets"
        #expect(error(long)?.kind == .limit)
        let deep = "SELECT " + String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500) + " FROM tickets"
        #expect(error(deep)?.kind == .limit)
        #expect(error("SELECT 'unterminated FROM tickets")?.message == "unterminated string literal")
    }

    @Test func rangesForPruningComeFromTheWhereClause() throws {
        let q = try Binder.bind(try Parser.parse("SELECT id FROM tickets WHERE id >= 10 AND 20 > id AND updated_at < TIMESTAMPTZ '2026-01-01 00:00:00+00' OR false"))
        #expect(q.ranges.isEmpty, "an OR at the top makes no range safe")
        let r = try Binder.bind(try Parser.parse("SELECT id FROM tickets WHERE id >= 10 AND 20 > id AND status = 'open'"))
        #expect(r.ranges == ["id": 10...19])
        // now() and interval arithmetic on constants fold into the range, with the statement's now.
        let now: Int64 = 1_790_000_000_000, day: Int64 = 86_400_000
        let t = try Binder.bind(try Parser.parse("SELECT id FROM tickets WHERE created_at >= now() - INTERVAL '7 days' AND updated_at < TIMESTAMPTZ '2026-01-31 00:00:00+00' + INTERVAL '1 month'"),
                                relation: try Relation.table("tickets", offset: 0), now: now)
        #expect(t.ranges["created_at"] == (now - 7 * day)...Int64.max)
        #expect(t.ranges["updated_at"] == Int64.min...(1_772_236_800_000 - 1), "2026-02-28 00:00:00+00: a month from January 31 clamps to February's last day")
        // IS NOT NULL on an integer column is the whole range (nulls dropped); IS NULL and text give none.
        let n = try Binder.bind(try Parser.parse("SELECT id FROM tickets WHERE satisfaction IS NOT NULL AND solved_at IS NOT NULL AND agent_id IS NULL AND subject IS NOT NULL AND solved_at > TIMESTAMPTZ '2026-01-01 00:00:00+00'"))
        #expect(n.ranges == ["satisfaction": Int64.min...Int64.max, "solved_at": 1_767_225_600_001...Int64.max])
    }

    /// B6 (issue 13): a qualifier must name the query's FROM item; one naming an outer query's
    /// table is a correlated subquery and is refused, never run with another meaning.
    @Test func qualifiersNameTheFromItemAndCorrelationIsRefused() {
        for ok in ["SELECT t.id FROM tickets t WHERE t.id = 1 ORDER BY t.id", "SELECT tickets.id FROM tickets",
                   "SELECT count(*) FROM tickets t WHERE t.id IN (SELECT e.id FROM ticket_events e WHERE e.writer = 'agent')",
                   "SELECT s.id FROM (SELECT t.id FROM tickets t) AS s", "WITH x AS (SELECT id FROM tickets) SELECT x.id FROM x",
                   "SELECT count(*) FROM tickets t WHERE id IN (SELECT id FROM ticket_events)"] {
            do { _ = try Parser.parse(ok) } catch { Issue.record("\(ok): \(error)") }
        }
        let unknown = error("SELECT x.id FROM tickets t")
        #expect(unknown?.kind == .name && unknown?.message == "'x.id': no table named x in this query (FROM names it t)", "\(String(describing: unknown))")
        #expect(unknown?.offset == 7)
        #expect(error("SELECT tickets.id FROM tickets t")?.message.hasPrefix("'tickets.id': no table named tickets") == true)
        #expect(error("SELECT count(*) FROM tickets WHERE nope.status = 'new'")?.kind == .name)
        let correlated = error("SELECT count(*) FROM tickets t WHERE t.id IN (SELECT e.id FROM ticket_events e WHERE e.id = t.id)")
        #expect(correlated?.kind == .unsupported && correlated?.message.contains("correlated subqueries are not supported: 't.id'") == true, "\(String(describing: correlated))")
        #expect(error("SELECT count(*) FROM tickets t WHERE id IN (SELECT id FROM ticket_events WHERE id = t.id)")?.kind == .unsupported)
        #expect(error("SELECT id FROM (SELECT id FROM tickets t) AS s WHERE t.id = 1")?.kind == .name, "an inner FROM's alias is not visible outside")
        #expect(error("SELECT * FROM main.tickets")?.message.hasPrefix("qualified table names (main.tickets) are not supported") == true)
        #expect(error("SELECT * FROM read_csv('x.csv')")?.message.hasPrefix("table functions (read_csv(…)) are not supported") == true)
    }
}
