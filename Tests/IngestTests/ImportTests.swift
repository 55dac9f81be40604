import Foundation
import Testing
import StrataCore
import SegmentFormat
import ColdStore
import SystemSupport
import StrataTesting
import Workload
@testable import Ingest


/// The workload's snapshot (`strata generate snapshot`) into `path`.
func generateSnapshot(rows: Int, format: String, path: String, seed: Int = 42) throws {
    var o = WorkloadOptions()
    o.seed = UInt64(seed)
    try Generator.writeSnapshot(rows: rows, format: SnapshotFormat(rawValue: format)!, options: o, to: path)
}

/// Every row of every segment of a table, as strings per column (nil for null).
func coldRows(_ dataDir: String, table: String = "tickets") throws -> [[String?]] {
    var rows = [[String?]]()
    for path in try ColdDirectory(dataDirectory: dataDir).segments(table: table) {
        let r = try openSegment(path)
        for g in r.footer.rowGroups.indices {
            let cols = try r.readRowGroup(g, columns: Array(r.footer.columns.indices))
            for i in 0..<r.footer.rowGroups[g].rowCount {
                rows.append(r.footer.columns.indices.map { c in
                    let v = cols[c]!
                    if v.isNull(i) { return nil }
                    if r.footer.columns[c].type == .timestamp { return Timestamp.format(v.integer(at: i)!) }
                    return r.footer.columns[c].type.isInteger ? String(v.integer(at: i)!) : v.string(at: i)!
                })
            }
        }
    }
    return rows.sorted { Int($0[0]!)! < Int($1[0]!)! }
}

func listing(_ dir: String) -> [String] {
    (try? ColdDirectory(dataDirectory: dir).allSegments()) ?? []
}

@Suite struct ImportTests {
    @Test func csvAndNdjsonImportToTheSameRowsAsTheSource() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        try generateSnapshot(rows: 3000, format: "csv", path: tmp.path + "/t.csv")
        try generateSnapshot(rows: 3000, format: "ndjson", path: tmp.path + "/t.ndjson")
        let a = try TicketImporter(cold: ColdDirectory(dataDirectory: tmp.path + "/a"), segmentRows: 1024, rowGroupSize: 512)
            .run(files: [tmp.path + "/t.csv"])
        let b = try TicketImporter(cold: ColdDirectory(dataDirectory: tmp.path + "/b")).run(files: [tmp.path + "/t.ndjson"])
        #expect(a.rows == 3000 && b.rows == 3000)
        #expect(a.segments.count == 3 && b.segments.count == 1)
        let rowsA = try coldRows(tmp.path + "/a"), rowsB = try coldRows(tmp.path + "/b")
        #expect(rowsA.count == 3000)
        #expect(rowsA == rowsB)
        // The source itself, read line by line as JSON, is the expectation.
        let lines = String(decoding: readWholeFile(tmp.path + "/t.ndjson")!, as: UTF8.self).split(separator: "\n")
        for (i, line) in lines.enumerated() {
            let obj = try JSONParser.parse(Array(line.utf8))
            for (c, def) in Tables.tickets.columns.enumerated() {
                let expected: String?
                switch obj[def.name]! {
                case .null: expected = nil
                case .integer(let v): expected = String(v)
                case .string(let s): expected = s
                default: expected = "?"
                }
                #expect(rowsA[i][c] == expected, "row \(i + 1) column \(def.name)")
            }
        }
    }

    @Test func badRowsAreListedWithLineNumbersAndNothingIsWritten() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        try generateSnapshot(rows: 200, format: "csv", path: tmp.path + "/good.csv")
        var lines = String(decoding: readWholeFile(tmp.path + "/good.csv")!, as: UTF8.self)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func breakField(_ line: Int, _ column: Int, _ value: String) {
            var f = lines[line - 1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            f[column] = value
            lines[line - 1] = f.joined(separator: ",")
        }
        breakField(5, 1, "2026-13-01T00:00:00Z")   // created_at
        breakField(9, 6, "escalated")              // status
        breakField(12, 10, "agent-7")              // agent_id
        breakField(20, 0, "3")                     // duplicate id
        lines[30] = "1,2,3"                        // line 31: too few fields
        try writeWholeFile(tmp.path + "/bad.csv", Array(lines.joined(separator: "\n").utf8))
        let data = tmp.path + "/data"
        do {
            _ = try TicketImporter(cold: ColdDirectory(dataDirectory: data), segmentRows: 64, rowGroupSize: 64)
                .run(files: [tmp.path + "/bad.csv"])
            Issue.record("the import of bad rows succeeded")
        } catch let e as ImportFailed {
            let text = e.errors.map(\.description)
            #expect(text.count == 5)
            #expect(text[0].hasSuffix("bad.csv:5: column created_at: invalid timestamp \"2026-13-01T00:00:00Z\" (RFC 3339 expected, e.g. 2026-10-23T07:51:50.288Z)"))
            #expect(text[1].hasSuffix("bad.csv:9: column status: \"escalated\" is not one of new, open, pending, on_hold, solved, closed"))
            #expect(text[2].hasSuffix("bad.csv:12: column agent_id: invalid integer \"agent-7\""))
            #expect(text[3].hasSuffix("bad.csv:20: column id: duplicate id 3 (already seen in this import)"))
            #expect(text[4].hasSuffix("bad.csv:31: expected 17 fields, found 3"))
            #expect(e.description.hasSuffix("nothing was imported"))
        }
        let left = try ChildProcess.run("/bin/sh", ["-c", "test -z \"$(find \(data)/cold -type f)\""])
        #expect(left == 0, "files were left behind")
    }

    @Test func ndjsonErrorsNameLineAndField() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        try generateSnapshot(rows: 5, format: "ndjson", path: tmp.path + "/t.ndjson")
        var lines = String(decoding: readWholeFile(tmp.path + "/t.ndjson")!, as: UTF8.self).split(separator: "\n").map(String.init)
        lines[1] = lines[1].replacingFirst("\"priority\":\"", with: "\"priority\":7,\"x\":\"")
        lines[2] = String(lines[2].dropLast())
        lines[3] = lines[3].replacingFirst("\"subject\":\"", with: "\"subjekt\":\"")
        try writeWholeFile(tmp.path + "/bad.ndjson", Array((lines.joined(separator: "\n") + "\n").utf8) + [0xFF, 0x0A])
        do {
            _ = try TicketImporter(cold: ColdDirectory(dataDirectory: tmp.path + "/d")).run(files: [tmp.path + "/bad.ndjson"])
            Issue.record("accepted")
        } catch let e as ImportFailed {
            let text = e.errors.map(\.description)
            #expect(text.count == 4)
            #expect(text[0].hasSuffix(":2: column priority: expected enum(low,normal,high,urgent), got a JSON integer"))
            #expect(text[1].contains(":3: invalid JSON: unexpected end of JSON in an object"))
            #expect(text[2].hasSuffix(":4: column subjekt: unknown column"))
            #expect(text[3].contains(":6: invalid JSON"))
        }
        #expect(listing(tmp.path + "/d").isEmpty)
    }

    @Test func limitsOnRecordsAndStrings() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        let header = Tables.tickets.columns.map(\.name).joined(separator: ",")
        let longSubject = String(repeating: "x", count: RowBatch.maxStringBytes + 1)
        let row = "1,2026-10-01T00:00:00Z,2026-10-01T00:00:00Z,,,,new,low,email,billing,,5,\(longSubject),,,0,1"
        try writeWholeFile(tmp.path + "/long.csv", Array((header + "\n" + row + "\n").utf8))
        #expect(throws: ImportFailed.self) {
            _ = try TicketImporter(cold: ColdDirectory(dataDirectory: tmp.path + "/d")).run(files: [tmp.path + "/long.csv"])
        }
        let huge = String(repeating: "y", count: InputFile.maxRecordBytes + 10)
        try writeWholeFile(tmp.path + "/huge.csv", Array((header + "\n1,\(huge)\n").utf8))
        do {
            _ = try TicketImporter(cold: ColdDirectory(dataDirectory: tmp.path + "/d")).run(files: [tmp.path + "/huge.csv"])
            Issue.record("accepted a record over the limit")
        } catch let e as ImportError {
            #expect(e.line == 2)
            #expect(e.message.contains("record longer than"))
        }
        try writeWholeFile(tmp.path + "/empty.csv", [])
        #expect(throws: ImportError.self) {
            _ = try TicketImporter(cold: ColdDirectory(dataDirectory: tmp.path + "/d")).run(files: [tmp.path + "/empty.csv"])
        }
        #expect(listing(tmp.path + "/d").isEmpty)
    }

    @Test func quotedLineBreaksKeepLineNumbersRight() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        let header = Tables.tickets.columns.map(\.name).joined(separator: ",")
        let ok = "1,2026-10-01T00:00:00Z,2026-10-01T00:00:00Z,,,,new,low,email,billing,,5,\"two\nlines\",,,0,1"
        let bad = "2,2026-10-01T00:00:00Z,2026-10-01T00:00:00Z,,,,new,low,email,billing,,5,s,,9,0,x"
        try writeWholeFile(tmp.path + "/q.csv", Array((header + "\r\n" + ok + "\r\n" + bad + "\r\n").utf8))
        do {
            _ = try TicketImporter(cold: ColdDirectory(dataDirectory: tmp.path + "/d")).run(files: [tmp.path + "/q.csv"])
            Issue.record("accepted")
        } catch let e as ImportFailed {
            #expect(e.errors.map(\.line) == [4])
            #expect(e.errors.first?.column == "version")
        }
    }
}

extension String {
    func replacingFirst(_ a: String, with b: String) -> String {
        guard let r = range(of: a) else { return self }
        return replacingCharacters(in: r, with: b)
    }
}
