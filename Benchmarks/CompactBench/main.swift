// Compaction benchmark: migrate N hot tickets (with their change-log entries) from Redis
// into segments, against the ceiling of simply reading those tickets out of Redis
// pipelined, in the same run. Prints tickets/s, Redis memory freed, bytes written per
// ticket, peak RSS.
//
//   swift build -c release --product CompactBench && .build/release/CompactBench --tickets 1000000
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MemoryAllocator
import Catalog
import ColdStore
import Compactor
import HotTier
import Ingest
import RedisClient
import StrataCore
import SystemSupport
import StrataTesting
import Workload

struct CompactBenchOptions: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "CompactBench",
        abstract: "Hot tickets migrated from Redis into segments, against reading them out of Redis.")
    @Option(help: "Hot tickets to migrate (1...100000000).") var tickets = 1_000_000
    @Option(help: "Where generated data is kept.") var data = "bench-data"
    @Option(help: "Tickets per migration (1...10000000): the run's memory bound.") var ticketsPerMigration = CompactionPolicy().ticketsPerMigration
    @Option(help: "Times the ceiling is measured before the migration; its median is the one compared (1...9).") var ceilingRuns = 3
    @Option(help: ArgumentHelp("A perf control FIFO: `enable` is written to it when the migration starts, `disable` when it ends.",
                               discussion: "perf record -a -D -1 --control fifo:ctl,ack -- CompactBench --perf-control ctl (mkfifo ctl ack first) profiles the migration alone."))
    var perfControl: String? = nil
    @Flag(help: "Every delete compares values, as before the compaction marks (docs/tiering.md, \"Deleting on a mark\"): the A side of an A/B.")
    var compareValues = false

    func validate() throws {
        guard (1...100_000_000).contains(tickets) else { throw ValidationError("--tickets must be 1...100000000, not \(tickets)") }
        guard (1...10_000_000).contains(ticketsPerMigration) else { throw ValidationError("--tickets-per-migration must be 1...10000000") }
        guard (1...9).contains(ceilingRuns) else { throw ValidationError("--ceiling-runs must be 1...9, not \(ceilingRuns)") }
    }
}
let options = CompactBenchOptions.parseOrExit()
MemoryAllocator.configure()  // as the strata executable does
let tickets = options.tickets
let data = options.data
let csv = "\(data)/workload-tickets-\(tickets).csv"
if access(csv, F_OK) != 0 {
    print("generating \(tickets) tickets → \(csv)")
    _ = try ChildProcess.run("/bin/mkdir", ["-p", data])
    try Generator.writeSnapshot(rows: tickets, format: .csv, to: csv)
}

func rssMB(_ field: String) -> Double {
    let s = String(decoding: readWholeFile("/proc/self/status") ?? [], as: UTF8.self)
    let line = s.split(separator: "\n").first { $0.hasPrefix(field) } ?? ""
    return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? .nan) / 1024
}
/// `v` rounded to `d` decimals.
func f(_ v: Double, _ d: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<d { scale *= 10 }
    return String((v * scale).rounded() / scale)
}

func runBenchmark(tickets: Int, csv: String) throws {
    // 1. A Redis with the tickets hot: one create event per snapshot row, through the merge script.
    let redis = try TestRedis(prefix: "cbench", appendFsync: "everysec")
    let dir = redis.dir
    let pool = redis.pool
    let hot = HotTier(pool: pool)
    let sha = try pool.pipelineBlocking([["SCRIPT", "LOAD", HotTier.scriptSource].map { Array($0.utf8) }])[0].string!
    var input = try InputFile(path: csv)
    var scratch = [UInt8](), fields = [Range<Int>]()
    var header: [String] = []
    var batch = [TicketEvent]()
    var loaded = 0
    var t = monotonicSeconds()
    func flush(_ batch: inout [TicketEvent], _ loaded: inout Int) throws {
        guard !batch.isEmpty else { return }
        let replies = try pool.pipelineBlocking(hot.commands(for: batch, sha: sha))
        for r in replies { if case .error(let m) = r { fatalError(m) } }
        loaded += batch.count
        batch.removeAll(keepingCapacity: true)
    }
    while let ok: Bool = try input.nextRecord(csv: true, { rec, _ in
        try CSVParser.fields(of: rec, scratch: &scratch, fields: &fields)
        let values = fields.map { String(decoding: scratch[$0], as: UTF8.self) }
        if header.isEmpty { header = values; return true }
        batch.append(try TicketEvent.create(snapshotHeader: header, values: values))
        return true
    }) {
        _ = ok
        if batch.count == 1000 { try flush(&batch, &loaded) }
    }
    try flush(&batch, &loaded)
    input.close()
    print("loaded \(loaded) hot tickets in \(f(monotonicSeconds() - t)) s")
    let before = try usedMemory(pool)

    // 2. The ceiling: read every ticket and its log entries out of Redis, pipelined; several
    // times (the machine is shared: one reading varies by 2x), with the CPU it took.
    let layout = KeyLayout()
    func readEverything() throws {
        var readBytes = 0
        for shard in 0..<layout.shards {
            let ids = try HotIndex(pool: pool, layout: layout).ids(shards: [shard])[0]
            for start in stride(from: 0, to: ids.count, by: 1000) {
                let replies = try pool.pipelineBlocking(ids[start..<min(start + 1000, ids.count)].map { [Array("GET".utf8), Array(layout.ticket($0).utf8)] })
                for r in replies { if case .bulk(let b) = r { readBytes += b.count } }
            }
            var cursor = "-"
            while true {
                let r = try pool.pipelineBlocking([["XRANGE", layout.changeLog(shard), cursor, "+", "COUNT", "10000"].map { Array($0.utf8) }])[0].array ?? []
                if r.isEmpty { break }
                cursor = "(" + (r.last!.array![0].string!)
                if r.count < 10000 { break }
            }
        }
        precondition(readBytes > 0, "the ceiling read nothing")
    }
    var ceilings = [(seconds: Double, redisUs: Double, ownUs: Double)]()
    for _ in 0..<options.ceilingRuns {
        let redis0 = try redisCPU(pool), own0 = processCPU(getpid())
        t = monotonicSeconds()
        try readEverything()
        ceilings.append((monotonicSeconds() - t, (try redisCPU(pool) - redis0) * 1e6 / Double(loaded), (processCPU(getpid()) - own0) * 1e6 / Double(loaded)))
    }
    let ceiling = ceilings.sorted { $0.seconds < $1.seconds }[ceilings.count / 2]
    let ceilingSeconds = ceiling.seconds

    // 3. The migration.
    let cold = ColdDirectory(dataDirectory: dir.path + "/data")
    _ = try cold.prepare(table: "tickets")
    let catalog = try Catalog(path: cold.catalogPath)
    var policy = CompactionPolicy()
    policy.maxTicketsPerRun = loaded
    policy.ticketsPerMigration = options.ticketsPerMigration
    policy.merge = nil
    policy.deleteOnMarks = !options.compareValues
    // The tickets first; the hourly counters (one per shard and hour of the snapshot's
    // year: far more than a day of real traffic makes) are timed as their own run below.
    policy.metricsHotAgeMs = Int64.max / 4
    let rssBefore = rssMB("VmRSS:")
    _ = try pool.pipelineBlocking([["CONFIG", "RESETSTAT"].map { Array($0.utf8) }])
    let redisCPU0 = try redisCPU(pool), ownCPU0 = processCPU(getpid())
    // The migration's own peak: reset the high-water mark (Linux: "5" to clear_refs).
    let peakReset = (try? writeWholeFile("/proc/self/clear_refs", Array("5".utf8))) != nil
    let perf = options.perfControl.map { open($0, O_WRONLY) }
    if let perf { precondition(perf >= 0, "cannot open --perf-control \(options.perfControl!)"); _ = write(perf, "enable\n", 7) }
    t = monotonicSeconds()
    let compactor = Compactor(pool: pool, layout: layout, catalog: catalog, cold: cold, policy: policy)
    let t0 = t
    compactor.afterStep = { kind, step in print("  \(kind.rawValue) \(step.rawValue) at +\(f(monotonicSeconds() - t0, 3)) s") }
    let report = try compactor.runOnce(nowMs: ColdDirectory.nowMs())
    let migrateSeconds = monotonicSeconds() - t
    if let perf { _ = write(perf, "disable\n", 8); close(perf) }
    let after = try usedMemory(pool)
    precondition(report.tickets == loaded, "moved \(report.tickets) of \(loaded)")
    let migrationPeak = rssMB("VmHWM:")
    let redisUs = (try redisCPU(pool) - redisCPU0) * 1e6 / Double(loaded), ownUs = (processCPU(getpid()) - ownCPU0) * 1e6 / Double(loaded)
    let topCommands = try commandTimes(pool).prefix(6).map { "\($0.command) \(f($0.usec / Double(loaded), 2))" }.joined(separator: ", ")

    var rollupPolicy = policy
    rollupPolicy.metricsHotAgeMs = 48 * 3_600_000
    let r0 = monotonicSeconds()
    let rollup = try Compactor(pool: pool, layout: layout, catalog: catalog, cold: cold, policy: rollupPolicy).runOnce(nowMs: ColdDirectory.nowMs())
    let rollupSeconds = monotonicSeconds() - r0

    let n = Double(loaded)
    print("")
    print("compaction benchmark: \(loaded) hot tickets with \(report.events) events in the change log, one run, deletes \(options.compareValues ? "comparing values" : "on the compaction marks")")
    print("  migration:          \(f(migrateSeconds)) s = \(Int(n / migrateSeconds)) tickets/s")
    print("  ceiling (read all tickets and log entries pipelined): \(f(ceilingSeconds)) s = \(Int(n / ceilingSeconds)) tickets/s, the median of \(ceilings.map { f($0.seconds, 2) }.joined(separator: ", ")) s")
    print("  CPU per ticket moved: Redis \(f(redisUs, 2)) µs (by command: \(topCommands)), the compactor \(f(ownUs, 2)) µs")
    print("  CPU per ticket read by the ceiling: Redis \(f(ceiling.redisUs, 2)) µs, the reader \(f(ceiling.ownUs, 2)) µs")
    print("  migration / ceiling: \(String((n / migrateSeconds) / (n / ceilingSeconds))) by time, \(String((ceiling.redisUs + ceiling.ownUs) / (redisUs + ownUs))) by CPU (Redis and client together)")
    // How well the two processes overlapped: on n cores, the migration cannot take less
    // than their CPU together over n, nor less than Redis's alone (one thread).
    let cores = Double(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    let redisBusy = redisUs * n / 1e6 / migrateSeconds, ownBusy = ownUs * n / 1e6 / migrateSeconds
    let floor = max((redisUs + ownUs) * n / 1e6 / cores, redisUs * n / 1e6)
    print("  overlap:            Redis busy \(Int((redisBusy * 100).rounded()))% of the migration, the compactor \(Int((ownBusy * 100).rounded()))% of one core; the \(Int(cores)) cores \(Int(((redisBusy + ownBusy) / cores * 100).rounded()))% busy. With this CPU, a perfect overlap takes \(f(floor, 2)) s = \(f(ceilingSeconds / floor, 2)) of the ceiling")
    print("  Redis memory freed: \(Int((before - after) / 1_048_576)) MB (\(Int((before - after) / n)) B per ticket)")
    print("  written:            \(report.bytes) bytes = \(f(Double(report.bytes) / n)) B per ticket (tickets and ticket_events segments)")
    print("  counters:           \(rollup.metricHours) hour hashes → \(rollup.metricRows) ticket_metrics rows in \(f(rollupSeconds)) s (a separate run)")
    let allocator = MemoryAllocator.description.prefix(14)
    print("  peak RSS:           \(f(migrationPeak)) MB during the migration\(peakReset ? "" : " (the high-water mark could not be reset: the process's peak so far)"), RSS \(f(rssBefore)) MB before it; \(report.runs.count) migration(s) of at most \(policy.ticketsPerMigration) tickets; malloc: \(allocator), as strata's")
}
try runBenchmark(tickets: tickets, csv: csv)
