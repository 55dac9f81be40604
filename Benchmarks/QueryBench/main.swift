// Query benchmark: the analyst queries of examples/queries over N generated tickets
// held in Strata's segments, against DuckDB over the same rows (its own table, and Parquet
// when --parquet is given), in one run, medians of --runs. Prints seconds per query per
// engine and each engine's time over Strata's.
//
//   swift build -c release --product QueryBench && STRATA_PYTHON=$(scripts/python-env) \
//     .build/release/QueryBench --tickets 1000000 --runs 3
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MemoryAllocator
import Catalog
import ColdStore
import Tiering
import HotTier
import Ingest
import Query
import RedisClient
import StrataCore
import SystemSupport
import StrataTesting
import Workload

MemoryAllocator.configure()  // jemalloc, as the strata executable runs

struct QueryBenchOptions: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "QueryBench",
        abstract: "The analyst queries over generated tickets in Strata, DuckDB, chdb and SQLite, side by side.")
    @Option(help: "Tickets to generate and load (1...100000000).") var tickets = 1_000_000
    @Option(help: "Runs per query; the median is printed (1...100).") var runs = 3
    @Option(help: "Where generated data and segments are kept.") var data = "bench-data"
    @Option(help: "A Parquet file of the same tickets, for DuckDB and chdb over Parquet.") var parquet = ""
    @Option(help: "Run the anchor engines too (yes|no).") var anchors: YesNo = .yes
    @Option(help: "Tickets also written to a private Redis as the hot tier (0...tickets).") var hot = 0
    @Option(help: "Keep hot tickets as columns between queries, as the daemon does (yes|no).") var hotCache: YesNo = .yes
    @Option(help: "Writes to hot tickets before each query (0...1000000).") var hotWrites = 0
    @Option(help: "Runs of SQLite per query (1...100).") var sqliteRuns = 1
    @Option(help: "Only these queries, comma-separated (q01,q02,...).") var only: String?

    enum YesNo: String, ExpressibleByArgument { case yes, no }

    func validate() throws {
        guard (1...100_000_000).contains(tickets) else { throw ValidationError("--tickets must be 1...100000000, not \(tickets)") }
        guard (1...100).contains(runs) else { throw ValidationError("--runs must be 1...100, not \(runs)") }
        guard (0...tickets).contains(hot) else { throw ValidationError("--hot must be 0...\(tickets) (the tickets generated), not \(hot)") }
        guard (0...1_000_000).contains(hotWrites) else { throw ValidationError("--hot-writes must be 0...1000000, not \(hotWrites)") }
        guard (1...100).contains(sqliteRuns) else { throw ValidationError("--sqlite-runs must be 1...100, not \(sqliteRuns)") }
        if let only, only.split(separator: ",").contains(where: { !$0.hasPrefix("q") || Int($0.dropFirst()) == nil }) {
            throw ValidationError("--only takes query names such as q01,q08, not '\(only)'")
        }
    }
}
let options = QueryBenchOptions.parseOrExit()
let tickets = options.tickets, runs = options.runs
let data = options.data, parquet = options.parquet
let anchors = options.anchors == .yes
let hot = options.hot
let sqliteRuns = options.sqliteRuns
let hotCache = options.hotCache == .yes
let hotWrites = options.hotWrites
let only: Set<String>? = options.only.map { Set($0.split(separator: ",").map(String.init)) }
let python = ProjectPaths.python()
let csv = "\(data)/workload-tickets-\(tickets).csv"
if access(csv, F_OK) != 0 {
    print("generating \(tickets) tickets → \(csv)")
    _ = try ChildProcess.run("/bin/mkdir", ["-p", data])
    try Generator.writeSnapshot(rows: tickets, format: .csv, to: csv)
}
let dir = "\(data)/query-\(tickets)"
let cold = ColdDirectory(dataDirectory: dir)
if access(cold.catalogPath, F_OK) != 0 {
    print("importing \(csv) → \(dir)")
    _ = try cold.prepare(table: "tickets")
    _ = try TicketImporter(cold: cold, catalog: try Catalog(path: cold.catalogPath)).run(files: [csv])
}
let catalog = try Catalog(path: cold.catalogPath)  // for the segment counts printed below

// A hot slice: the first --hot tickets also written to a Redis hot tier, as create events
// through the merge script. Hot wins over their cold rows, so the answers do not change;
// the queries pay for reading both tiers.
var hotPool: RedisPool?
var hotRedis: TestRedis?
if hot > 0 {
    let server = try TestRedis(prefix: "qbench")
    let pool = server.pool
    let hotTier = HotTier(pool: pool)
    let sha = try pool.pipelineBlocking([["SCRIPT", "LOAD", HotTier.scriptSource].map { Array($0.utf8) }])[0].string!
    var input = try InputFile(path: csv)
    var scratch = [UInt8](), fields = [Range<Int>]()
    var header = [String](), batch = [TicketEvent](), loaded = 0
    let t = monotonicSeconds()
    while loaded + batch.count < hot, try input.nextRecord(csv: true, { rec, _ in
        try CSVParser.fields(of: rec, scratch: &scratch, fields: &fields)
        let values = fields.map { String(decoding: scratch[$0], as: UTF8.self) }
        if header.isEmpty { header = values; return true }
        batch.append(try TicketEvent.create(snapshotHeader: header, values: values))
        return true
    }) != nil {
        if batch.count == 1000 {
            for r in try pool.pipelineBlocking(hotTier.commands(for: batch, sha: sha)) { if case .error(let m) = r { fatalError(m) } }
            loaded += batch.count
            batch.removeAll(keepingCapacity: true)
        }
    }
    if !batch.isEmpty {
        for r in try pool.pipelineBlocking(hotTier.commands(for: batch, sha: sha)) { if case .error(let m) = r { fatalError(m) } }
        loaded += batch.count
    }
    input.close()
    print("hot slice: \(loaded) tickets written to Redis in \(Int(monotonicSeconds() - t)) s (also cold: hot wins)")
    hotPool = pool
    hotRedis = server
}
// The daemon keeps hot tickets parsed between queries (HotTicketCache); --hot-cache no reads
// Redis whole at every query, as a one-shot `strata query` does.
let cache = hotCache ? HotTicketCache() : nil
let engine = QueryEngine(source: TieredTableSource(pool: hotPool, layout: KeyLayout(), coldTier: ColdTier(cold: cold), hotCache: cache))
var engine2 = engine
engine2.threads = 2

// --hot-writes N: before each timed query, N events (empty patches, each a new writer's
// first event, so accepted and logged without changing an answer) to random hot tickets,
// as the ticket service keeps writing while analysts query. Not timed; the query pays for
// bringing the cache up to date.
var writeRound = 0
@MainActor func writeBetweenQueries() throws {
    guard hotWrites > 0, hot > 0, let pool = hotPool else { return }
    writeRound += 1
    var rng = SystemRandomNumberGenerator()
    let events = (0..<hotWrites).map { _ in
        TicketEvent(op: .patch, id: Int64.random(in: 1...Int64(hot), using: &rng), writer: "bench-\(writeRound)",
                    vv: [("bench-\(writeRound)", 1)], fields: [], at: 1_790_000_000_000)
    }
    let tier = HotTier(pool: pool)
    let sha = try pool.pipelineBlocking([["SCRIPT", "LOAD", HotTier.scriptSource].map { Array($0.utf8) }])[0].string!
    for r in try pool.pipelineBlocking(tier.commands(for: events, sha: sha)) { if case .error(let m) = r { fatalError(m) } }
}

var queries = [(name: String, sql: String)]()
let qdir = "examples/queries"
for name in ["q01", "q02", "q03", "q04", "q05", "q08", "q10", "q11"] where only?.contains(name) ?? true {
    guard let b = readWholeFile("\(qdir)/\(name).sql") else { continue }
    queries.append((name, String(decoding: b, as: UTF8.self)))
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
/// Strata's median seconds per query, with 1 and 2 threads.
var strata = [String: Double](), strata2 = [String: Double]()
for q in queries {
    for (threads, e) in [(1, engine), (2, engine2)] {
        var samples = [Double]()
        var rows = 0
        for _ in 0..<runs {
            try writeBetweenQueries()
            let t = monotonicSeconds()
            switch e.result(q.sql) {
            case .success(let r): rows = r.rows.count
            case .failure(let err): fatalError("\(q.name): \(err)")
            }
            samples.append(monotonicSeconds() - t)
        }
        if threads == 1 { strata[q.name] = median(samples) } else { strata2[q.name] = median(samples) }
        print("  strata \(q.name) (\(threads)t): \(median(samples)) s (\(rows) rows)")
    }
}

hotPool?.shutdown()
hotRedis = nil
if !anchors { exit(0) }
// DuckDB over the same rows.
let qjson = "/tmp/querybench-\(getpid()).json"
try writeWholeFile(qjson, Array(("{" + queries.map { "\(jsonString($0.name)):\(jsonString($0.sql))" }.joined(separator: ",") + "}").utf8))
let out = "/tmp/querybench-\(getpid()).out"
let here = ProjectPaths.root
let duckCode = try ChildProcess.run("/bin/sh", ["-c", "\"$0\" \"$1\" \"$2\" \"$3\" \"$4\" \"$5\" > \"$6\"", python,
                                              here + "/Benchmarks/QueryBench/duckdb_bench.py", csv, qjson, String(runs), parquet, out])
precondition(duckCode == 0, "duckdb_bench.py failed")
var anchorResults = [try JSONParser.parse(readWholeFile(out)!)]
// SQLite over the same rows (its database file is kept in --data: loading 10M rows takes minutes).
if sqliteRuns > 0 {
    let sqliteCode = try ChildProcess.run("/bin/sh", ["-c", "\"$0\" \"$1\" \"$2\" \"$3\" \"$4\" \"$5\" > \"$6\"", python,
                                                    here + "/Benchmarks/QueryBench/sqlite_bench.py", csv, qjson, String(sqliteRuns),
                                                    "\(data)/tickets-\(tickets).sqlite", out])
    precondition(sqliteCode == 0, "sqlite_bench.py failed")
    let sqlite = try JSONParser.parse(readWholeFile(out)!)
    if case .array(let bad)? = sqlite["sqlite_mismatches"], !bad.isEmpty { print("SQLite's answers differ from DuckDB's for \(bad): its times are not comparable") }
    anchorResults.append(sqlite)
}
/// The anchors' results by engine name ("duckdb_table_1t" … "sqlite_1t").
struct Anchors {
    let parts: [JSONValue]
    subscript(_ engine: String) -> JSONValue? { parts.lazy.compactMap { $0[engine] }.first }
}
let duck = Anchors(parts: anchorResults)
let engines = ["duckdb_table_1t", "duckdb_table_2t", "duckdb_parquet_1t", "duckdb_parquet_2t", "chdb_parquet_1t", "chdb_parquet_2t", "sqlite_1t"].filter { duck[$0] != nil }

print("")
print("query benchmark: \(tickets) tickets, median of \(runs) runs, seconds (and engine / Strata)")
print("query  strata(1t)  strata(2t)  " + engines.map { $0.pad(24) }.joined())
/// Each anchor against Strata with the same number of threads.
@MainActor func strataTime(_ engine: String, _ q: String) -> Double { engine.hasSuffix("_2t") ? strata2[q]! : strata[q]! }
var ratios = [String: [Double]]()
for q in queries {
    var line = q.name + "  " + String(format3: strata[q.name]!).pad(12) + String(format3: strata2[q.name]!).pad(12)
    for e in engines {
        guard case .double(let s)? = duck[e]?[q.name] else { line += "-".pad(24); continue }
        let ratio = s / strataTime(e, q.name)
        ratios[e, default: []].append(ratio)
        line += "\(String(format3: s)) (\(String(format3: ratio))x)".pad(24)
    }
    print(line)
}
print("total  " + String(format3: strata.values.reduce(0, +)).pad(12) + String(format3: strata2.values.reduce(0, +)).pad(12)
      + engines.map { e in
          let total = queries.compactMap { q -> Double? in if case .double(let s)? = duck[e]?[q.name] { return s } else { return nil } }.reduce(0, +)
          return String(format3: total).pad(24)
      }.joined())
for e in engines { print("median of (\(e) / strata(\(e.hasSuffix("_2t") ? 2 : 1)t)): \(String(format3: median(ratios[e] ?? [0])))") }

extension String {
    func pad(_ n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }

    init(format3 v: Double) {
        let s = (v * 1000).rounded() / 1000
        self = "\(s)"
    }
}
