// Segment format benchmark: Strata's segments against Parquet (pyarrow, zstd and lz4)
// on the same generated tickets, in one run. Prints bytes per ticket, write seconds and
// full-scan seconds (medians), and the ratios. Not a test: it prints figures.
//
//   swift run -c release SegmentBench --rows 1000000 [--runs 3] [--data bench-data]
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import StrataCore
import SegmentFormat
import ColdStore
import Ingest
import SystemSupport
import StrataTesting
import Workload

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "SegmentBench",
        abstract: "Strata's segments against Parquet (pyarrow, zstd and lz4) on the same generated tickets.")
    @Option(help: "Tickets to generate (1...100000000).") var rows = 1_000_000
    @Option(help: "Runs; medians are printed (1...100).") var runs = 3
    @Option(help: "Where generated data is kept.") var data = "bench-data"
    @Option(help: "The Python with pyarrow (default: $STRATA_PYTHON or .venv/bin/python).") var python = ProcessEnv.get("STRATA_PYTHON") ?? ".venv/bin/python"

    func validate() throws {
        guard (1...100_000_000).contains(rows) else { throw ValidationError("--rows must be 1...100000000, not \(rows)") }
        guard (1...100).contains(runs) else { throw ValidationError("--runs must be 1...100, not \(runs)") }
    }
}

enum ProcessEnv {
    static func get(_ n: String) -> String? { getenv(n).map { String(cString: $0) } }
}

func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

func fmt(_ v: Double, _ digits: Int = 2) -> String {
    var s = String(Int((v * pow10(digits)).rounded()))
    while s.count <= digits { s = "0" + s }
    return digits == 0 ? s : String(s.dropLast(digits)) + "." + String(s.suffix(digits))
}
func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { r, _ in r * 10 } }

let o = Options.parseOrExit()
_ = try? ChildProcess.run("/bin/mkdir", ["-p", o.data])
let csv = "\(o.data)/workload-tickets-\(o.rows).csv"
if access(csv, F_OK) != 0 {
    print("generating \(o.rows) tickets → \(csv)")
    try Generator.writeSnapshot(rows: o.rows, format: .csv, to: csv)
}

// 1. Import (parse + validate + encode + write), once.
let importDir = "\(o.data)/strata-import-\(o.rows)"
_ = try ChildProcess.run("/bin/rm", ["-rf", importDir])
var t = monotonicSeconds()
let summary = try TicketImporter(cold: ColdDirectory(dataDirectory: importDir)).run(files: [csv])
let importSeconds = monotonicSeconds() - t
print("import: \(summary.rows) rows in \(fmt(importSeconds)) s (\(Int(Double(summary.rows) / importSeconds)) rows/s), \(summary.segments.count) segments")

// 2. The rows in memory, one column set per segment (the writer's input, like pyarrow's in-memory table).
var inMemory = [[ColumnVector]]()
for path in summary.segments {
    let r = try openSegment(path)
    var cols = r.footer.columns.map { ColumnVector.empty(for: $0.type) }
    for g in r.footer.rowGroups.indices {
        let got = try r.readRowGroup(g, columns: Array(cols.indices))
        for c in cols.indices { cols[c].append(contentsOf: got[c]!) }
    }
    inMemory.append(cols)
}

// 3. Write: encode + write + fsync + rename, from memory.
let outDir = "\(o.data)/strata-\(o.rows)"
var writes = [Double]()
var bytes = 0
for _ in 0..<o.runs {
    _ = try ChildProcess.run("/bin/rm", ["-rf", outDir])
    let dir = try ColdDirectory(dataDirectory: outDir).prepare(table: "tickets")
    t = monotonicSeconds()
    bytes = 0
    for (k, cols) in inMemory.enumerated() {
        var w = try SegmentFileWriter(directory: dir, fileName: "tickets-\(k).seg", schema: Tables.tickets, createdAtMs: 0)
        try w.append(cols)
        let s = try w.stage()
        try s.publish()
        bytes += s.bytes
    }
    writes.append(monotonicSeconds() - t)
}
inMemory = []

// 4. Full scan: every column of every row group, checksummed and decoded.
var scans = [Double]()
var checksum: Int64 = 0
let paths = try ColdDirectory(dataDirectory: outDir).segments(table: "tickets")
for _ in 0..<o.runs {
    t = monotonicSeconds()
    var rows = 0
    for p in paths {
        let r = try openSegment(p)
        for g in r.footer.rowGroups.indices {
            let cols = try r.readRowGroup(g, columns: Array(r.footer.columns.indices))
            rows += r.footer.rowGroups[g].rowCount
            if case .integers(let v) = cols[0]!.values { checksum &+= v[v.count - 1] }
        }
    }
    scans.append(monotonicSeconds() - t)
    precondition(rows == o.rows)
}

// 5. Parquet with pyarrow on the same CSV.
let jsonPath = "\(o.data)/parquet-\(o.rows).json"
let code = try ChildProcess.run(o.python, ["Benchmarks/parquet_bench.py", "--csv", csv, "--out-dir", o.data, "--runs", "\(o.runs)"],
                                stdout: jsonPath, stderr: "\(o.data)/parquet-\(o.rows).log")
precondition(code == 0, "parquet_bench.py failed: see \(o.data)/parquet-\(o.rows).log")
let parquet = try JSONParser.parse(readWholeFile(jsonPath)!)
func num(_ v: JSONValue?) -> Double {
    switch v { case .integer(let i): return Double(i); case .double(let d): return d; default: return .nan }
}

let n = Double(o.rows)
let ours = (bpt: Double(bytes) / n, write: median(writes), scan: median(scans))
print("")
print("segment benchmark: \(o.rows) tickets, single-threaded, median of \(o.runs) runs (checksum \(checksum))")
print("format             bytes/ticket   write s    scan s   size vs strata   scan vs strata")
print("strata (LZ4)       \(fmt(ours.bpt).padL(12))  \(fmt(ours.write, 3).padL(8))  \(fmt(ours.scan, 3).padL(8))   \("1.00".padL(14))   \("1.00".padL(14))")
for codec in ["zstd", "lz4"] {
    let p = parquet[codec]!
    let bpt = num(p["bytes"]) / n
    let w = num(p["write_s"]), s = num(p["scan_s"])
    print("parquet-\(codec)".padR(17) + "  \(fmt(bpt).padL(12))  \(fmt(w, 3).padL(8))  \(fmt(s, 3).padL(8))   \(fmt(bpt / ours.bpt).padL(14))   \(fmt(s / ours.scan).padL(14))")
}
print("csv                \(fmt(num(parquet["csv_bytes"]) / n).padL(12))")
print("(ratios > 1 mean Parquet is larger / slower than Strata)")

extension String {
    func padL(_ w: Int) -> String { count >= w ? self : String(repeating: " ", count: w - count) + self }
    func padR(_ w: Int) -> String { count >= w ? self : self + String(repeating: " ", count: w - count) }
}
