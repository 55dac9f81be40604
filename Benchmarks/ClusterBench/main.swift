// Cluster write benchmark: the generated event stream written through the hot tier's merge
// script (HotTier, the daemon's write path without HTTP) into one Redis, a 1-master Redis
// Cluster and a 3-master Redis Cluster, in one run, each with --writers concurrent writers
// sending --bulk events per call; each target emptied before each of --runs runs. Prints
// events/s (median) per target. Everything runs on this machine: the writers and every
// redis-server share its cores.
//
//   swift build -c release --product ClusterBench
//   STRATA_PYTHON=$(scripts/python-env) .build/release/ClusterBench --tickets 20000 --runs 3
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import StrataCore
import HotTier
import RedisClient
import SystemSupport
import StrataTesting
import Workload

struct ClusterBenchOptions: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ClusterBench",
        abstract: "The generated event stream through the merge script into one Redis and Redis Clusters.")
    @Option(help: "Tickets whose events are written (1...10000000).") var tickets = 20_000
    @Option(help: "Runs per target; the median is printed (1...100).") var runs = 3
    @Option(help: "Concurrent writers (1...256).") var writers = 4
    @Option(help: "Events per call (1...10000).") var bulk = 500
    @Option(help: "Where generated data is kept.") var data = "bench-data"

    func validate() throws {
        for (name, value, range) in [("tickets", tickets, 1...10_000_000), ("runs", runs, 1...100), ("writers", writers, 1...256), ("bulk", bulk, 1...10_000)]
        where !range.contains(value) {
            throw ValidationError("--\(name) must be \(range.lowerBound)...\(range.upperBound), not \(value)")
        }
    }
}
let options = ClusterBenchOptions.parseOrExit()
let tickets = options.tickets, runs = options.runs, writers = options.writers, bulk = options.bulk
let data = options.data
let eventsPath = "\(data)/workload-events-\(tickets).ndjson"
if access(eventsPath, F_OK) != 0 {
    print("generating events for \(tickets) tickets → \(eventsPath)")
    _ = try ChildProcess.run("/bin/mkdir", ["-p", data])
    try Generator.writeEvents(tickets: tickets, to: eventsPath)
}
var events = [TicketEvent]()
for line in readWholeFile(eventsPath)!.split(separator: 0x0A) { events.append(try EventDecoder.decode(Array(line))) }
let batches = stride(from: 0, to: events.count, by: bulk).map { Array(events[$0..<min($0 + bulk, events.count)]) }
print("\(events.count) events for \(tickets) tickets, \(batches.count) calls of \(bulk), \(writers) writers")

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }

/// Events per second of each run into `pool` (emptied before each run).
func measure(_ name: String, _ pool: RedisPool, runs: Int, writers: Int, batches: [[TicketEvent]], events: Int) async throws -> Double {
    var rates = [Double]()
    for run in 0..<runs {
        _ = try pool.pipelineBlocking([["FLUSHALL"].map { Array($0.utf8) }])
        let hot = HotTier(pool: pool)
        try await hot.loadScript()
        let t = monotonicSeconds()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask {
                    for (k, batch) in batches.enumerated() where k % writers == w { _ = try await hot.apply(batch) }
                }
            }
            try await group.waitForAll()
        }
        let rate = Double(events) / (monotonicSeconds() - t)
        rates.append(rate)
        print("  \(name) run \(run + 1): \(Int(rate)) events/s")
    }
    return median(rates)
}

var results = [(String, Double)]()
do {
    let server = try TestRedis(prefix: "clusterbench", appendFsync: "everysec")  // as the daemon's default durability
    results.append(("one Redis (no cluster)", try await measure("single", server.pool, runs: runs, writers: writers, batches: batches, events: events.count)))
}
for masters in [1, 3] {
    let cluster = try LocalCluster(masters: masters, appendFsync: "everysec")
    results.append(("cluster, \(masters) master(s)", try await measure("\(masters) master(s)", cluster.pool, runs: runs, writers: writers, batches: batches, events: events.count)))
}
print("")
print("cluster write benchmark: \(events.count) events, \(writers) writers, \(bulk) events per call, median of \(runs), AOF everysec")
for (name, rate) in results {
    let padded = name + String(repeating: " ", count: max(0, 24 - name.count))
    print("  \(padded) \(Int(rate)) events/s  (\((rate / results[0].1 * 100).rounded() / 100)x one Redis)")
}
