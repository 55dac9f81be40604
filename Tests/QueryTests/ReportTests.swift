import Foundation
import Testing
import HotTier
import Query
@testable import Reports
import StrataCore

@Suite(.serialized) struct ReportTests {
    @Test func everyFigureMatchesDuckDBAndThePageIsSelfContained() async throws {
        let f = try await TwoTierFixture(tickets: 2000)
        let pack = ReportPack(from: Timestamp.parse("2026-08-01T00:00:00Z")!, to: Timestamp.parse("2026-11-01T00:00:00Z")!)
        var results = [QueryResult]()
        for figure in pack.figures { results.append(try f.engine.execute(figure.sql)) }
        // DuckDB checks the figures over `tickets` (it has no ticket_events; now() differs).
        let checked = pack.figures.enumerated().filter { !$0.element.sql.contains("ticket_events") && !$0.element.sql.contains("now()") }
        let duck = try f.duckdb(checked.map(\.element.sql))
        for ((k, figure), d) in zip(checked, duck) {
            #expect(sameAnswer(results[k], d, ordered: true) == nil, "\(figure.name): \(sameAnswer(results[k], d, ordered: true) ?? "")")
        }
        #expect(results[0].rows.count > 30, "created per day has rows in the window")
        let page = ReportRenderer.render(pack, results: results, generatedAt: 0)
        #expect(page.csv.count == pack.figures.count)
        for (csv, r) in zip(page.csv, results) { #expect(csv.text == ResultFormat.csv.render(r)) }
        #expect(page.html.components(separatedBy: "<svg").count - 1 >= 6)
        #expect(!page.html.contains("<script") && !page.html.contains("src=") && !page.html.contains("href=\"http"))
        for figure in pack.figures { #expect(page.html.contains(ReportRendererTestAccess.escaped(figure.sql))) }
    }

    @Test func timeInPendingFromTheChangeLog() async throws {
        let f = try await TwoTierFixture(tickets: 50)
        let hour: Int64 = 3_600_000
        let t0 = Timestamp.parse("2026-10-05T08:00:00Z")!
        // new → pending (1h) → open (3h later) → pending (1h) → solved (2h later): 5 hours pending.
        let steps: [(String, Int64)] = [("new", 0), ("pending", 1), ("open", 4), ("pending", 5), ("solved", 7)]
        var events = [TicketEvent]()
        for (k, (status, h)) in steps.enumerated() {
            var fields: [(column: Int, value: TicketEvent.Value)] = [(Tables.tickets.index(of: "status")!, .string(status)),
                                                                   (Tables.tickets.index(of: "updated_at")!, .integer(t0 + h * hour))]
            if k == 0 { fields.append((Tables.tickets.index(of: "created_at")!, .integer(t0))) }
            events.append(TicketEvent(op: k == 0 ? .create : .patch, id: 9_000_001, writer: "svc-1", vv: [("svc-1", Int64(k + 1))], fields: fields, at: t0 + h * hour))
        }
        _ = try await HotTier(pool: f.pool).apply(events)
        let pack = ReportPack(from: Timestamp.parse("2026-10-01T00:00:00Z")!, to: Timestamp.parse("2026-11-01T00:00:00Z")!)
        let figure = pack.figures.first { $0.name == "time_in_pending" }!
        let r = try f.engine.execute(figure.sql)
        #expect(r.rows == [[.int(1), .double(5), .double(5)]])
        // Waiting on the help desk: new 0–1h, open 4–5h; pending and solved are not waiting.
        let wait = try f.engine.execute(pack.figures.first { $0.name == "requester_wait" }!.sql)
        #expect(wait.rows == [[.int(1), .double(2), .double(2), .double(2)]])
    }

    @Test func backlogOverTimeHasOnePointPerDayUpToItsLimit() {
        let day: Int64 = 86_400_000, t0 = Timestamp.parse("2026-01-01T00:00:00Z")!
        let month = ReportPack(from: t0, to: t0 + 31 * day).backlogPoints
        #expect(month.count == 31 && month.first?.label == "2026-01-01" && month.first?.end == "TIMESTAMP '2026-01-02'")
        let year = ReportPack(from: t0, to: t0 + 365 * day).backlogPoints
        #expect(year.count <= ReportPack.maxBacklogPoints && year.count >= ReportPack.maxBacklogPoints / 2)
        #expect(year.last?.label == "2026-12-31" && year.first?.label == "2026-01-05", "steps of 6 days, counted back from the last day")
        // In a zone ahead of UTC the window's first local day starts before UTC midnight.
        var tokyo = ReportPack(from: t0 - 9 * 3_600_000, to: t0 - 9 * 3_600_000 + 2 * day)
        tokyo.timeZone = TimeZoneRule(name: "Asia/Tokyo") { _ in 9 * 3_600_000 }
        #expect(tokyo.backlogPoints.map(\.label) == ["2026-01-01", "2026-01-02"])
    }
}

enum ReportRendererTestAccess {
    static func escaped(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
