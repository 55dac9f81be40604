import Query
import StrataCore

/// The standard help-desk report pack (what analysts built in Excel): each figure is one
/// SQL query over Strata's tables, printed by `strata report --show-sql`, so that every
/// number can be checked and reproduced.
public struct ReportPack: Sendable {
    /// Service-level targets for the first reply, per priority, in minutes.
    public var firstReplyTargetMinutes: [String: Int] = ["urgent": 60, "high": 240, "normal": 480, "low": 1440]
    /// The window the per-day figures cover: [from, to).
    public var from: Int64
    public var to: Int64
    /// The zone of the report's days (the query engine must run in the same zone).
    public var timeZone: TimeZoneRule = .utc
    /// Backlog over time has at most this many points (a day each, or wider steps for long windows).
    public static let maxBacklogPoints = 62

    public init(from: Int64, to: Int64) {
        precondition(from < to, "an empty report window")
        self.from = from
        self.to = to
    }

    /// `.columns`: one row whose columns (from the given one on) are the points of one line.
    public enum Chart: Sendable { case lines(x: Int, y: Int, series: Int?), bars(label: Int, value: Int), columns(from: Int), table }

    public struct Figure: Sendable {
        public var name: String
        public var title: String
        public var note: String
        public var sql: String
        public var chart: Chart
    }

    func literal(_ ms: Int64) -> String { "TIMESTAMPTZ '\(Formatter.text(.int(ms), .timestamp))'" }

    /// The ends of the backlog's days: local midnights of the report's zone, as `TIMESTAMP
    /// 'date'` literals (which the engine reads in its zone), labelled with the day they end.
    var backlogPoints: [(label: String, end: String)] {
        let day: Int64 = 86_400_000
        let first = floorDiv(from + timeZone.offsetAt(from), day), last = floorDiv(to - 1 + timeZone.offsetAt(to - 1), day)
        let span = last - first + 1
        let step = (span + Int64(Self.maxBacklogPoints) - 1) / Int64(Self.maxBacklogPoints)
        // Counted back from the window's last day, so that it is always a point.
        var out = [(label: String, end: String)]()
        var d = last
        while d >= first {
            out.append((Formatter.text(.int(d), .date), "TIMESTAMP '\(Formatter.text(.int(d + 1), .date))'"))
            d -= step
        }
        return out.reversed()
    }

    public var figures: [Figure] {
        let window = "BETWEEN \(literal(from)) AND \(literal(to - 1))"
        let sla = firstReplyTargetMinutes.sorted { $0.key < $1.key }.map { "WHEN '\($0.key)' THEN \($0.value)" }.joined(separator: " ")
        return [
            Figure(name: "created_per_day", title: "Tickets created per day, by channel", note: "UTC days; created_at in the window.",
                   sql: """
                   SELECT CAST(created_at AS DATE) AS day, channel, count(*) AS created
                   FROM tickets WHERE created_at \(window)
                   GROUP BY day, channel ORDER BY day, channel
                   """, chart: .lines(x: 0, y: 2, series: 1)),
            Figure(name: "solved_per_day", title: "Tickets solved per day, by channel", note: "Tickets whose solved_at is in the window (a reopened ticket counts when solved again).",
                   sql: """
                   SELECT CAST(solved_at AS DATE) AS day, channel, count(*) AS solved
                   FROM tickets WHERE solved_at \(window)
                   GROUP BY day, channel ORDER BY day, channel
                   """, chart: .lines(x: 0, y: 2, series: 1)),
            Figure(name: "backlog_by_queue", title: "Current backlog by queue", note: "Status new, open, pending or on_hold now.",
                   sql: """
                   SELECT queue, count(*) AS backlog, count(*) FILTER (WHERE status = 'pending') AS pending,
                          count(*) FILTER (WHERE agent_id IS NULL) AS unassigned
                   FROM tickets WHERE status IN ('new', 'open', 'pending', 'on_hold')
                   GROUP BY queue ORDER BY backlog DESC, queue
                   """, chart: .bars(label: 0, value: 1)),
            Figure(name: "backlog_over_time", title: "Backlog at the end of each day", note: "Tickets created by the day's end and not solved by it (one column per day; wider steps beyond \(Self.maxBacklogPoints) days). From the tickets' current state: solved_at is cleared on a reopen, so a ticket open again now counts as open since its creation.",
                   sql: "SELECT " + backlogPoints.map { p in
                       "count(*) FILTER (WHERE created_at < \(p.end) AND (solved_at IS NULL OR solved_at >= \(p.end))) AS \"\(p.label)\""
                   }.joined(separator: ",\n       ") + "\nFROM tickets WHERE created_at < \(backlogPoints.last?.end ?? literal(to)) AND (solved_at IS NULL OR solved_at >= \(backlogPoints.first?.end ?? literal(from)))",
                   chart: .columns(from: 0)),
            Figure(name: "first_reply_by_priority", title: "First reply time by priority (minutes)", note: "Tickets created in the window and answered; median and 90th percentile, interpolated.",
                   sql: """
                   SELECT priority, count(*) AS answered,
                          quantile_cont((epoch_ms(first_response_at) - epoch_ms(created_at)) / 60000.0, 0.5) AS median_min,
                          quantile_cont((epoch_ms(first_response_at) - epoch_ms(created_at)) / 60000.0, 0.9) AS p90_min
                   FROM tickets WHERE first_response_at IS NOT NULL AND created_at \(window)
                   GROUP BY priority ORDER BY priority
                   """, chart: .bars(label: 0, value: 2)),
            Figure(name: "resolution_by_priority", title: "Full resolution time by priority (hours)", note: "Tickets solved in the window: created to solved.",
                   sql: """
                   SELECT priority, count(*) AS solved,
                          quantile_cont((epoch_ms(solved_at) - epoch_ms(created_at)) / 3600000.0, 0.5) AS median_h,
                          quantile_cont((epoch_ms(solved_at) - epoch_ms(created_at)) / 3600000.0, 0.9) AS p90_h
                   FROM tickets WHERE solved_at \(window)
                   GROUP BY priority ORDER BY priority
                   """, chart: .bars(label: 0, value: 2)),
            Figure(name: "sla_first_reply", title: "First-reply SLA breach rate by priority", note: "Target minutes per priority: \(firstReplyTargetMinutes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")). Unanswered tickets older than their target count as breached.",
                   sql: """
                   SELECT priority, count(*) AS tickets,
                          count(*) FILTER (WHERE coalesce(epoch_ms(first_response_at), epoch_ms(now())) - epoch_ms(created_at)
                                                 > 60000 * CASE priority \(sla) END) AS breached,
                          avg(CASE WHEN coalesce(epoch_ms(first_response_at), epoch_ms(now())) - epoch_ms(created_at)
                                        > 60000 * CASE priority \(sla) END THEN 1.0 ELSE 0.0 END) AS breach_rate
                   FROM tickets WHERE created_at \(window)
                   GROUP BY priority ORDER BY priority
                   """, chart: .bars(label: 0, value: 3)),
            Figure(name: "reopen_rate", title: "Reopen rate by channel", note: "Share of tickets created in the window that were reopened at least once.",
                   sql: """
                   SELECT channel, count(*) AS tickets, avg(CASE WHEN reopen_count > 0 THEN 1.0 ELSE 0.0 END) AS reopen_rate
                   FROM tickets WHERE created_at \(window)
                   GROUP BY channel ORDER BY channel
                   """, chart: .bars(label: 0, value: 2)),
            Figure(name: "csat_by_week", title: "CSAT by week", note: "ISO weeks (Monday) of solved_at; rated tickets only; share of 4-5 ratings.",
                   sql: """
                   SELECT CAST(date_trunc('week', solved_at) AS DATE) AS week, count(*) AS rated, avg(satisfaction) AS avg_csat,
                          avg(CASE WHEN satisfaction >= 4 THEN 1.0 ELSE 0.0 END) AS share_good
                   FROM tickets WHERE satisfaction IS NOT NULL AND solved_at \(window)
                   GROUP BY week ORDER BY week
                   """, chart: .lines(x: 0, y: 2, series: nil)),
            Figure(name: "agent_leaderboard", title: "Agent leaderboard", note: "Tickets solved in the window per agent: median resolution hours and average CSAT. Top 25.",
                   sql: """
                   SELECT agent_id, count(*) AS solved,
                          quantile_cont((epoch_ms(solved_at) - epoch_ms(created_at)) / 3600000.0, 0.5) AS median_resolution_h,
                          avg(satisfaction) AS avg_csat
                   FROM tickets WHERE solved_at \(window) AND agent_id IS NOT NULL
                   GROUP BY agent_id ORDER BY solved DESC, agent_id LIMIT 25
                   """, chart: .table),
            Figure(name: "time_in_pending", title: "Time in pending per ticket (hours)", note: "From ticket_events: per ticket, the times it left pending minus the times it entered; tickets whose pending spells all ended, created in the window. Events still in the hot change log count as well.",
                   sql: """
                   WITH spells AS (
                     SELECT id,
                            sum(epoch_ms(at)) FILTER (WHERE status_before = 'pending' AND status_after <> 'pending') AS left_ms,
                            sum(epoch_ms(at)) FILTER (WHERE status_after = 'pending' AND coalesce(status_before, 'none') <> 'pending') AS entered_ms,
                            count(*) FILTER (WHERE status_before = 'pending' AND status_after <> 'pending') AS exits,
                            count(*) FILTER (WHERE status_after = 'pending' AND coalesce(status_before, 'none') <> 'pending') AS entries
                     FROM ticket_events WHERE at >= \(literal(from))
                     GROUP BY id)
                   SELECT count(*) AS tickets, avg((left_ms - entered_ms) / 3600000.0) AS avg_pending_h,
                          median((left_ms - entered_ms) / 3600000.0) AS median_pending_h
                   FROM spells WHERE entries > 0 AND entries = exits
                   """, chart: .table),
            Figure(name: "requester_wait", title: "Requester wait time per ticket (hours)", note: "From ticket_events: time in new, open and on_hold (the requester is waiting on the help desk; pending waits on the requester), summed over a ticket's spells; tickets whose spells all ended, with events in the window.",
                   sql: """
                   WITH spells AS (
                     SELECT id,
                            sum(epoch_ms(at)) FILTER (WHERE status_before IN ('new', 'open', 'on_hold') AND status_after NOT IN ('new', 'open', 'on_hold')) AS left_ms,
                            sum(epoch_ms(at)) FILTER (WHERE status_after IN ('new', 'open', 'on_hold') AND coalesce(status_before, 'none') NOT IN ('new', 'open', 'on_hold')) AS entered_ms,
                            count(*) FILTER (WHERE status_before IN ('new', 'open', 'on_hold') AND status_after NOT IN ('new', 'open', 'on_hold')) AS exits,
                            count(*) FILTER (WHERE status_after IN ('new', 'open', 'on_hold') AND coalesce(status_before, 'none') NOT IN ('new', 'open', 'on_hold')) AS entries
                     FROM ticket_events WHERE at >= \(literal(from))
                     GROUP BY id)
                   SELECT count(*) AS tickets, avg((left_ms - entered_ms) / 3600000.0) AS avg_wait_h,
                          median((left_ms - entered_ms) / 3600000.0) AS median_wait_h,
                          quantile_cont((left_ms - entered_ms) / 3600000.0, 0.9) AS p90_wait_h
                   FROM spells WHERE entries > 0 AND entries = exits
                   """, chart: .table),
        ]
    }
}
