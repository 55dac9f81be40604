#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import ColdStore
import Query
import Reports
import StrataCore
import SystemSupport

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the help-desk report pack: one CSV per figure and report.html (charts inline, no network).",
        discussion: """
        Figures: tickets created and solved per day by channel, current backlog by queue, first reply \
        and resolution times by priority, first-reply SLA breach rate, reopen rate, CSAT by week, an \
        agent leaderboard, time in pending (from ticket_events). Each comes from one SQL query; \
        --show-sql prints them. Reads both tiers, as `strata query` does.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Directory for the CSV files and report.html.")
    var out = "./report"

    @Option(help: "First day of the window (YYYY-MM-DD, UTC; default: --days before --to).")
    var from: String?

    @Option(help: "Day after the window's last (YYYY-MM-DD, UTC; default: tomorrow).")
    var to: String?

    @Option(help: "Length of the window in days when --from is not given.")
    var days = 28

    @Option(help: "First-reply targets in minutes per priority, e.g. urgent=60,high=240,normal=480,low=1440.")
    var sla: String?

    @Flag(help: "Print each figure's SQL and exit.")
    var showSql = false

    @OptionGroup var hotTier: HotTierLocation

    @Flag(help: "Use the cold tier alone (recent changes are missing).")
    var coldOnly = false

    @Option(help: "Time zone of the report's days and weeks (an IANA name; --from/--to are its dates).")
    var timeZone = "UTC"

    func run() throws {
        let now = ColdDirectory.nowMs()
        let day: Int64 = 86_400_000
        func date(_ text: String, _ option: String) throws -> Int64 {
            guard text.utf8.count == 10, let ms = Timestamp.parse(text + "T00:00:00Z") else { throw ValidationError("\(option) must be a date like 2026-10-01, got \(text)") }
            return ms
        }
        let zone = try zoneRule(timeZone)
        let end = try to.map { try date($0, "--to") } ?? ((now / day) + 1) * day
        guard days >= 1 && days <= 3660 else { throw ValidationError("--days must be 1...3660") }
        let start = try from.map { try date($0, "--from") } ?? end - Int64(days) * day
        guard start < end else { throw ValidationError("--from must be before --to") }
        // The window's dates are midnights in the report's zone.
        var pack = ReportPack(from: start - zone.offsetAt(start), to: end - zone.offsetAt(end))
        pack.timeZone = zone
        if let sla {
            for part in sla.split(separator: ",") {
                let kv = part.split(separator: "=")
                guard kv.count == 2, Tables.ticketPriorities.contains(String(kv[0])), let m = Int(kv[1]), m > 0 else {
                    throw ValidationError("--sla takes priority=minutes pairs (priorities: \(Tables.ticketPriorities.joined(separator: ", "))), got \(part)")
                }
                pack.firstReplyTargetMinutes[String(kv[0])] = m
            }
        }
        if showSql {
            for f in pack.figures { print("-- \(f.name): \(f.title)\n\(f.sql);\n") }
            return
        }
        let (source, pool) = try openTiers(dataDir: global.dataDir, hotTier: hotTier, coldOnly: coldOnly)
        defer { pool?.shutdown() }
        var engine = QueryEngine(source: source)
        engine.timeZone = zone
        engine.threads = QueryThreads.default
        var results = [QueryResult]()
        for f in pack.figures {
            switch engine.result(f.sql) {
            case .success(let r): results.append(r)
            case .failure(let e):
                printErr("figure \(f.name) failed: \(e.rendered(sql: f.sql))")
                throw ExitCode(1)
            }
        }
        let rendered = ReportRenderer.render(pack, results: results, generatedAt: now)
        _ = try ChildProcess.run("/bin/mkdir", ["-p", out])
        for (name, text) in rendered.csv { try writeWholeFile(out + "/" + name + ".csv", Array(text.utf8)) }
        try writeWholeFile(out + "/report.html", Array(rendered.html.utf8))
        print("wrote \(out)/report.html and \(rendered.csv.count) CSV files (window \(Formatter.text(.int(start / day), .date)) to \(Formatter.text(.int(end / day - 1), .date)))")
    }
}
