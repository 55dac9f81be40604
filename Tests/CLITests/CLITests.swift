#if canImport(Glibc)
import Glibc
#endif
import Testing
import StrataCore
import SegmentFormat
import ColdStore
import SystemSupport
import StrataTesting


/// Runs the built `strata` binary; returns exit code and combined output.
func strata(_ args: [String], in tmp: TemporaryDirectory) throws -> (Int32, String) {
    let binary = try ProjectPaths.strata
    let out = tmp.path + "/out.txt"
    let code = try ChildProcess.run(binary, args, stdout: out)
    return (code, String(decoding: readWholeFile(out) ?? [], as: UTF8.self))
}

@Suite struct CLITests {
    @Test func importInspectVerifyAndCatchDamage() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        let csv = tmp.path + "/t.csv"
        #expect(try ChildProcess.run(try ProjectPaths.strata, ["generate", "snapshot", "--rows", "1500",
                                                            "--format", "csv", "--out", csv]) == 0)
        let data = tmp.path + "/data"
        var (code, out) = try strata(["import", "--data-dir", data, "--row-group-size", "500", csv], in: tmp)
        #expect(code == 0, "\(out)")
        #expect(out.contains("imported 1500 rows from 1 file(s) into 1 segment(s)"))
        let seg = try #require(try ColdDirectory(dataDirectory: data).allSegments().first)

        (code, out) = try strata(["inspect", seg], in: tmp)
        #expect(code == 0)
        #expect(out.contains("rows       1500 in 3 row group(s) of up to 500"))
        for name in Tables.tickets.columns.map(\.name) { #expect(out.contains("\n\(name) "), "inspect lists \(name)") }
        #expect(out.contains("id range   1 .. 1500"))

        (code, out) = try strata(["catalog", "--data-dir", data], in: tmp)
        #expect(code == 0)
        #expect(out.contains("1 live segment(s), 1500 rows"))
        #expect(out.contains("1..1500"))

        (code, out) = try strata(["verify", "--data-dir", data], in: tmp)
        #expect(code == 0)
        #expect(out.contains("1 of 1 segment(s) sound, 1500 rows checked"))

        var bytes = readWholeFile(seg)!
        let m = try openSegment(seg).footer.rowGroups[1].chunks[Tables.tickets.index(of: "customer_id")!]
        bytes[Int(m.offset) + 1] ^= 0x01
        try writeWholeFile(seg, bytes)
        (code, out) = try strata(["verify", seg], in: tmp)
        #expect(code == 1)
        #expect(out.contains("BAD   \(seg): 1 bad block(s)"))
        #expect(out.contains("row group 1, column 'customer_id' (block at byte \(m.offset)"))

        try writeWholeFile(seg, Array(bytes.prefix(100)))
        (code, out) = try strata(["verify", seg], in: tmp)
        #expect(code == 1)
        #expect(out.contains("truncated"))

        (code, out) = try strata(["import", "--data-dir", data, tmp.path + "/nope.csv"], in: tmp)
        #expect(code == 1)
        #expect(out.contains("nope.csv: open failed: No such file or directory"))
    }
}

@Suite struct QueryCommandTests {
    @Test func queryTheColdTierInEveryFormatAndRefuseHalfAnAnswer() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        let csv = tmp.path + "/t.csv"
        #expect(try ChildProcess.run(try ProjectPaths.strata, ["generate", "snapshot", "--rows", "300",
                                                            "--format", "csv", "--out", csv]) == 0)
        let data = tmp.path + "/data"
        #expect(try strata(["import", "--data-dir", data, csv], in: tmp).0 == 0)
        // No daemon runs for this directory: without --cold-only the answer would miss the hot tier.
        var (code, out) = try strata(["query", "--data-dir", data, "SELECT count(*) FROM tickets"], in: tmp)
        #expect(code == 1 && out.contains("cannot reach the hot tier") && out.contains("--cold-only"), "\(out)")
        (code, out) = try strata(["query", "--data-dir", data, "--cold-only", "--format", "csv", "SELECT count(*) AS n, max(id) AS top FROM tickets"], in: tmp)
        #expect(code == 0 && out == "n,top\r\n300,300\r\n", "\(out)")
        (code, out) = try strata(["query", "--data-dir", data, "--cold-only", "--format", "markdown", "SELECT id FROM tickets ORDER BY id LIMIT 2"], in: tmp)
        #expect(out == "| id |\n|---:|\n| 1 |\n| 2 |\n", "\(out)")
        (code, out) = try strata(["query", "--data-dir", data, "--cold-only", "--format", "ndjson", "SELECT id, subject IS NULL AS none FROM tickets WHERE id = 7"], in: tmp)
        #expect(out == #"{"id":7,"none":false}"# + "\n", "\(out)")
        // The report pack: CSV files and one HTML page; --show-sql prints every figure's query.
        (code, out) = try strata(["report", "--data-dir", data, "--cold-only", "--from", "2026-08-01", "--to", "2026-11-01", "--out", tmp.path + "/r"], in: tmp)
        #expect(code == 0 && out.contains("wrote \(tmp.path)/r/report.html and 12 CSV files"), "\(out)")
        #expect(String(decoding: readWholeFile(tmp.path + "/r/created_per_day.csv") ?? [], as: UTF8.self).hasPrefix("day,channel,created\r\n2026-"))
        (code, out) = try strata(["report", "--show-sql", "--from", "2026-08-01", "--to", "2026-11-01"], in: tmp)
        #expect(code == 0 && out.split(separator: "\n").filter { $0.hasPrefix("-- ") }.count == 12 && out.contains("TIMESTAMPTZ '2026-08-01 00:00:00+00'"), "\(out)")
        (code, out) = try strata(["report", "--data-dir", data, "--cold-only", "--sla", "urgent=x"], in: tmp)
        #expect(code != 0 && out.contains("--sla takes priority=minutes pairs"), "\(out)")
        // A syntax error shows the line and a caret under the column.
        (code, out) = try strata(["query", "--data-dir", data, "--cold-only", "SELECT id FROM tickets WHERE id = = 3"], in: tmp)
        #expect(code == 1 && out.contains("syntax error at line 1, column 35: unexpected '='") && out.contains("\n                                    ^"), "\(out)")
    }
}

/// Runs `strata` from inside `dir`, as a user in a shell would (relative paths).
func strataIn(_ dir: String, _ args: [String], out: String) throws -> (Int32, String) {
    let code = try ChildProcess.run("/bin/sh", ["-c", #"cd "$0" && exec "$@""#, dir, try ProjectPaths.strata] + args, stdout: out)
    return (code, String(decoding: readWholeFile(out) ?? [], as: UTF8.self))
}

@Suite struct RelativePathTests {
    /// Every path option works relative to the working directory and absolute; SQL that
    /// starts with a comment works as an argument (not taken for an option) and with -f.
    @Test func pathOptionsAndSQLThatStartsWithAComment() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        let log = tmp.path + "/out.txt"
        var (code, out) = try strataIn(tmp.path, ["generate", "snapshot", "--rows", "400", "--format", "csv", "--out", "t.csv"], out: log)
        #expect(code == 0 && access(tmp.path + "/t.csv", F_OK) == 0, "\(out)")
        (code, out) = try strataIn(tmp.path, ["import", "--data-dir", "data", "t.csv"], out: log)
        #expect(code == 0 && access(tmp.path + "/data/catalog.sqlite", F_OK) == 0, "\(out)")
        let sql = "-- how many tickets, by a comment first\nSELECT count(*) AS n FROM tickets"
        try writeWholeFile(tmp.path + "/q.sql", Array(sql.utf8))
        for args in [["-f", "q.sql"], ["-f", tmp.path + "/q.sql"], [sql], ["--format", "csv", sql, "--cold-only"]] {
            (code, out) = try strataIn(tmp.path, ["query", "--data-dir", "data", "--cold-only", "--format", "csv"] + args, out: log)
            #expect(code == 0 && out == "n\r\n400\r\n", "\(args): \(out)")
        }
        // An absolute --data-dir from anywhere.
        (code, out) = try strataIn("/", ["query", "--data-dir", tmp.path + "/data", "--cold-only", "--format", "csv", sql], out: log)
        #expect(code == 0 && out == "n\r\n400\r\n", "\(out)")
        (code, out) = try strataIn(tmp.path, ["report", "--data-dir", "data", "--cold-only", "--from", "2026-08-01", "--to", "2026-11-01", "--out", "rep"], out: log)
        #expect(code == 0 && access(tmp.path + "/rep/report.html", F_OK) == 0, "\(out)")
        (code, out) = try strataIn(tmp.path, ["generate", "events", "--tickets", "50", "--out", "e.ndjson", "--expect", "x.ndjson"], out: log)
        #expect(code == 0 && access(tmp.path + "/x.ndjson", F_OK) == 0, "\(out)")
        (code, out) = try strataIn(tmp.path, ["generate", "events", "--tickets", "5", "--out", "e.ndjson", "--expect", "e.ndjson"], out: log)
        #expect(code != 0 && out.contains("--expect and --out must be different files"), "\(out)")
        (code, out) = try strataIn(tmp.path, ["generate", "snapshot", "--rows", "5", "--days", "0"], out: log)
        #expect(code != 0 && out.contains("--days must be 1...3650"), "\(out)")
        // compact's bounds are checked before it reaches for Redis.
        (code, out) = try strataIn(tmp.path, ["compact", "--data-dir", "data", "--tickets-per-migration", "0"], out: log)
        #expect(code != 0 && out.contains("--tickets-per-migration must be 1...10000000, not 0"), "\(out)")
        (code, out) = try strataIn(tmp.path, ["compact", "--data-dir", "data", "--max-tickets", "0"], out: log)
        #expect(code != 0 && out.contains("--max-tickets must be 1...100000000, not 0"), "\(out)")
        for bad in ["soon", "2d", "0s", "5x"] {
            (code, out) = try strataIn(tmp.path, ["compact", "--data-dir", "data", "--wait", bad], out: log)
            #expect(code != 0 && out.contains("--wait must be 0 or like 10m or 30s (at most 1d), not \(bad)"), "\(out)")
        }
        // serve's minute retention is checked before it starts anything.
        for bad in ["30m", "31d", "2x"] {
            (code, out) = try strataIn(tmp.path, ["serve", "--data-dir", "data", "--minute-retention", bad], out: log)
            #expect(code != 0 && out.contains("--minute-retention must be 1h...30d, like 48h or 6h, not '\(bad)'"), "\(out)")
        }
    }
}
