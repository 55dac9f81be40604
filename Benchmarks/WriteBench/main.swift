// Write-path benchmark: replays a generated event stream through `strata serve`'s bulk
// API with N connections, and measures the ceiling in the same run: redis-benchmark
// calling the same merge script, pipelined, with the same shapes of keys and arguments.
//
//   swift build -c release --product strata && swift build -c release --product WriteBench
//   .build/release/WriteBench --tickets 100000 --connections 4 --bulk 1000 [--runs 3]
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Dispatch
import Foundation
import Synchronization
import StrataCore
import HotTier
import RedisClient
import SystemSupport
import StrataTesting
import Workload

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "WriteBench",
        abstract: "A generated event stream through strata serve's bulk API, against redis-benchmark running the merge script.")
    @Option(help: "Tickets whose events are replayed (1...10000000).") var tickets = 100_000
    @Option(help: "Concurrent connections (1...256).") var connections = 4
    @Option(help: "Events per bulk request (1...10000).") var bulk = 1000
    @Option(help: "Runs; medians are printed (1...100).") var runs = 3
    @Option(help: "The daemon's durability mode (default|strict).") var durability = "default"
    @Option(help: "Where the daemon merges events (daemon|redis: strata serve --merge-in).") var mergeIn = "daemon"
    @Option(help: "How the daemon writes its merge (script|transaction: strata serve --write-with).") var writeWith = "script"
    @Option(help: "replay: the generated 90-day history as it was stamped; live: the same events stamped within the last minute, as a ticket service writes them now (same order, every timestamp mapped onto [now - 60 s, now]).") var workload = "replay"
    @Option(help: "Where generated data is kept.") var data = "bench-data"
    @Option(help: "Events per second offered in the paced bulk run (0: none; the goal's p99 is at 50,000).") var bulkRate = 50_000
    @Option(help: "Single-event requests per second in the latency run (1...1000000).") var singleRate = 5000
    @Option(help: "Seconds of the latency run (1...3600).") var singleSeconds = 10
    @Option(help: "Connections of the latency run, all driven by one client thread (1...256).") var singleConnections = 16
    @Option(help: "Which parts run, comma-separated: bulk (the replay, medians of --runs), paced, single, ceiling.") var phases = "bulk,paced,single,ceiling"

    func validate() throws {
        for (name, value, range) in [("tickets", tickets, 1...10_000_000), ("connections", connections, 1...256), ("bulk", bulk, 1...10_000),
                                     ("runs", runs, 1...100), ("single-rate", singleRate, 1...1_000_000), ("single-seconds", singleSeconds, 1...3600),
                                     ("single-connections", singleConnections, 1...256), ("bulk-rate", bulkRate, 0...10_000_000)] where !range.contains(value) {
            throw ValidationError("--\(name) must be \(range.lowerBound)...\(range.upperBound), not \(value)")
        }
        guard ["default", "strict"].contains(durability) else { throw ValidationError("--durability must be default or strict, not '\(durability)'") }
        guard ["replay", "live"].contains(workload) else { throw ValidationError("--workload must be replay or live, not '\(workload)'") }
        for p in phases.split(separator: ",") where !["bulk", "paced", "single", "ceiling"].contains(p) {
            throw ValidationError("--phases names bulk, paced, single and ceiling, not '\(p)'")
        }
    }
}

func percentile(_ v: [Double], _ p: Double) -> Double {
    guard !v.isEmpty else { return .nan }
    let s = v.sorted()
    return s[min(s.count - 1, Int(Double(s.count) * p))]
}
func f(_ v: Double, _ d: Int = 1) -> String {
    guard v.isFinite else { return "-" }
    var m = 1.0
    for _ in 0..<d { m *= 10 }
    let r = (v * m).rounded() / m
    return d == 0 ? String(Int(r)) : String(r)
}

let o = Options.parseOrExit()
let phases = Set(o.phases.split(separator: ",").map(String.init))
_ = try ChildProcess.run("/bin/mkdir", ["-p", o.data])
let eventsPath = "\(o.data)/workload-events-\(o.tickets).ndjson"
if access(eventsPath, F_OK) != 0 {
    print("generating events for \(o.tickets) tickets → \(eventsPath)")
    var delivery = DeliveryOptions()
    (delivery.shuffle, delivery.dup) = (0.05, 0.01)
    try Generator.writeEvents(tickets: o.tickets, delivery: delivery, to: eventsPath)
}
var generatedLines = readWholeFile(eventsPath)!.split(separator: 0x0A).map { Array($0) }

/// Each RFC 3339 timestamp of a generated line (`"2026-08-03T00:31:15.357Z"`, the form
/// `Timestamp.format` writes) through `map`.
func restamped(_ line: [UInt8], _ map: (Int64) -> Int64) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(line.count)
    var i = 0
    while i < line.count {
        if line[i] == 0x22, i + 25 < line.count, line[i + 25] == 0x22, line[i + 11] == 0x54,
           let ms = Timestamp.parse(line[(i + 1)..<(i + 25)]) {
            out.append(0x22)
            out += Array(Timestamp.format(map(ms)).utf8)
            out.append(0x22)
            i += 26
        } else {
            out.append(line[i])
            i += 1
        }
    }
    return out
}
if o.workload == "live" {
    // The same stream, compressed into the last minute: every bulk lands in one or two
    // minute and hour buckets per shard, as live traffic at these rates does.
    var first = Int64.max, last = Int64.min
    for line in generatedLines { _ = restamped(line) { first = min(first, $0); last = max(last, $0); return $0 } }
    let now = wallClockMilliseconds(), span = Double(max(1, last - first))
    generatedLines = generatedLines.map { restamped($0) { now - 60_000 + Int64(Double($0 - first) / span * 60_000) } }
}
let lines = generatedLines
let bodies = stride(from: 0, to: lines.count, by: o.bulk).map { Array(lines[$0..<min($0 + o.bulk, lines.count)].joined(separator: [0x0A])) }
print("\(lines.count) events for \(o.tickets) tickets, \(bodies.count) bulk requests of \(o.bulk)")

/// A daemon in a fresh data directory.
final class Daemon: @unchecked Sendable {
    let dir: TemporaryDirectory
    let process: ChildProcess
    let port: Int
    init(durability: String) throws {
        dir = try TemporaryDirectory(prefix: "wbench")
        port = 38000 + Int(getpid() % 1000)
        process = try ChildProcess(".build/release/strata", ["serve", "--data-dir", dir.path + "/data", "--listen", "127.0.0.1:\(port)",
                                                             "--insecure-no-auth", "--durability", durability, "--log-level", "warning", "--merge-in", o.mergeIn, "--write-with", o.writeWith],
                                   stdout: dir.path + "/daemon.log")
        for _ in 0..<600 {
            if let r = try? HTTPClient(port: port).request("GET", "/readyz"), r.status == 200 { return }
            usleep(50_000)
        }
        fatalError("daemon did not start; see \(dir.path)/daemon.log")
    }
    var peakRSSMB: Double {
        guard let s = readWholeFile("/proc/\(process.pid)/status") else { return .nan }
        let line = String(decoding: s, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? .nan) / 1024
    }
    var pool: RedisPool { RedisPool(endpoint: RedisEndpoint(address: .unix(path: dir.path + "/data/redis/redis.sock"))) }
    func stop() {
        process.stop(graceSeconds: 30)
        dir.remove()
    }
}

/// Sends every bulk to `d` on `o.connections` connections, one thread each (concurrentPerform
/// would run at most one per core: two here), each taking the next bulk. With `every`, bulk
/// k is due that many seconds after the start times k and its latency counts from then (no
/// coordinated omission); without, it goes as soon as a connection is free. Each bulk's
/// latency in ms, the events the daemon accepted, and the seconds from the first bulk due to the last answer.
func sendBulks(to d: Daemon, every interval: Double?) -> (latencies: [Double], applied: Int, seconds: Double) {
    let next = Atomic<Int>(0), applied = Atomic<Int>(0)
    let latencies = Mutex<[Double]>([])
    let started = monotonicSeconds() + (interval == nil ? 0 : 0.05)
    let group = DispatchGroup()
    for _ in 0..<o.connections {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            let c = HTTPClient(port: d.port)
            var mine = [Double]()
            while true {
                let k = next.add(1, ordering: .relaxed).oldValue
                guard k < bodies.count else { break }
                var from = monotonicSeconds()
                if let interval {
                    let due = started + Double(k) * interval
                    if due > from { usleep(useconds_t((due - from) * 1e6)) }
                    from = due
                }
                let r = try! c.request("POST", "/v1/events/_bulk", body: bodies[k])
                precondition(r.status == 200, "bulk failed: \(r.status) \(r.text.prefix(200))")
                // {"applied":N,...}: the events accepted, which the change log holds one line each.
                if let n = Int(r.text.dropFirst(11).prefix(while: \.isNumber)) { applied.add(n, ordering: .relaxed) }
                mine.append((monotonicSeconds() - from) * 1000)
            }
            latencies.withLock { $0 += mine }
        }
    }
    group.wait()
    return (latencies.withLock { $0 }, applied.load(ordering: .relaxed), monotonicSeconds() - started)
}

// 1. Bulk replay through the daemon.
var rates = [Double](), p50s = [Double](), p99s = [Double](), p999s = [Double](), rss = [Double](), bytesPerTicket = [Double]()
var ticketKeyBytes = 0.0, indexBytes = 0.0, logBytesPerEvent = 0.0
var redisUsPerEvent = [Double](), daemonUsPerEvent = [Double](), loaderUsPerEvent = [Double]()
var topCommands = [(command: String, calls: Double, usec: Double)]()
var daemonCounters = "(no /metrics)"
for run in 0..<(phases.contains("bulk") ? o.runs : 0) {
    let d = try Daemon(durability: o.durability)
    let pool = d.pool
    let before = try usedMemory(pool)
    let redisCPU0 = try redisCPU(pool), daemonCPU0 = processCPU(d.process.pid), loaderCPU0 = processCPU(getpid())
    _ = try pool.pipelineBlocking([["CONFIG", "RESETSTAT"].map { Array($0.utf8) }])
    let (lat, applied, seconds) = sendBulks(to: d, every: nil)
    redisUsPerEvent.append((try redisCPU(pool) - redisCPU0) * 1e6 / Double(lines.count))
    daemonUsPerEvent.append((processCPU(d.process.pid) - daemonCPU0) * 1e6 / Double(lines.count))
    loaderUsPerEvent.append((processCPU(getpid()) - loaderCPU0) * 1e6 / Double(lines.count))
    if run == 0 { topCommands = Array(try commandTimes(pool).prefix(8)) }
    // The daemon's own counters: rounds of group commit, races lost between read and write.
    if let m = try? HTTPClient(port: d.port).request("GET", "/metrics"), m.status == 200 {
        var v = [String: Double]()
        for line in m.text.split(separator: "\n") where line.hasPrefix("strata_hot_") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { v[String(parts[0])] = Double(parts[1]) }
        }
        let rounds = v["strata_hot_write_rounds_total"] ?? .nan
        daemonCounters = "rounds \(f(rounds, 0)), \(f((v["strata_hot_write_round_events_total"] ?? .nan) / rounds, 0)) events and "
            + "\(f((v["strata_hot_write_round_requests_total"] ?? .nan) / rounds, 2)) requests per round; shard batches written \(f(v["strata_hot_merged_writes_total"] ?? .nan, 0)), "
            + "lost a race \(f(v["strata_hot_merge_conflicts_total"] ?? 0, 0)), fell back to the script \(f(v["strata_hot_merge_fallbacks_total"] ?? 0, 0)), "
            + "guesses missed \(f(v["strata_hot_merge_guesses_missed_total"] ?? 0, 0))"
    }
    rates.append(Double(lines.count) / seconds)
    p50s.append(percentile(lat, 0.5)); p99s.append(percentile(lat, 0.99)); p999s.append(percentile(lat, 0.999))
    rss.append(d.peakRSSMB)
    bytesPerTicket.append((try usedMemory(pool) - before) / Double(o.tickets))
    if run == 0 {
        // MEMORY USAGE of a sample of ticket keys: the ticket state alone.
        let layout = KeyLayout()
        let sample = (1...1000).map { Int64($0 * max(1, o.tickets / 1000)) }
        let sizes = try pool.pipelineBlocking(sample.map { ["MEMORY", "USAGE", layout.ticket($0)].map { Array($0.utf8) } })
        ticketKeyBytes = sizes.compactMap { $0.int }.map(Double.init).reduce(0, +) / Double(sizes.count)
        let shards = 0..<layout.shards
        // The hot index: every bucket, the directory and the count of each shard.
        let buckets = try HotIndex(pool: pool, layout: layout).buckets(shards: Array(shards))
        var indexKeys = [String]()
        for (shard, list) in zip(shards, buckets) {
            indexKeys += list.map { layout.hotIndexBucket(shard, bucket: $0) } + [layout.hotIndexDirectory(shard), layout.hotIndexCount(shard)]
        }
        var idx = [RESPValue]()
        for start in stride(from: 0, to: indexKeys.count, by: 4096) {
            idx += try pool.pipelineBlocking(indexKeys[start..<min(start + 4096, indexKeys.count)].map { ["MEMORY", "USAGE", $0, "SAMPLES", "0"].map { Array($0.utf8) } })
        }
        indexBytes = idx.compactMap { $0.int }.map(Double.init).reduce(0, +) / Double(o.tickets)
        let logs = try pool.pipelineBlocking(shards.map { ["MEMORY", "USAGE", layout.changeLog($0), "SAMPLES", "0"].map { Array($0.utf8) } })
        logBytesPerEvent = logs.compactMap { $0.int }.map(Double.init).reduce(0, +) / Double(max(1, applied))
    }
    print("run \(run + 1): \(f(rates.last!, 0)) events/s, p50 \(f(p50s.last!)) ms, p99 \(f(p99s.last!)) ms, p999 \(f(p999s.last!)) ms, daemon peak RSS \(f(rss.last!)) MB, Redis \(f(bytesPerTicket.last!, 0)) B/ticket, CPU per event: Redis \(f(redisUsPerEvent.last!)) µs, daemon \(f(daemonUsPerEvent.last!)) µs")
    pool.shutdown()
    d.stop()
}

// 1b. Bulks at a fixed offered rate: each bulk's latency counts from when it was due, so
// that a daemon falling behind shows as latency (no coordinated omission).
var pacedP50 = Double.nan, pacedP90 = Double.nan, pacedP99 = Double.nan, pacedMax = Double.nan, pacedRate = Double.nan
if o.bulkRate > 0 && phases.contains("paced") {
    let d = try Daemon(durability: o.durability)
    let (lat, _, seconds) = sendBulks(to: d, every: Double(o.bulk) / Double(o.bulkRate))
    pacedRate = Double(lines.count) / seconds
    pacedP50 = percentile(lat, 0.5)
    pacedP90 = percentile(lat, 0.9)
    pacedP99 = percentile(lat, 0.99)
    pacedMax = lat.max() ?? .nan
    d.stop()
}

// 2. Single events at a fixed rate.
var singleP50 = Double.nan, singleP90 = Double.nan, singleP99 = Double.nan, singleRate = Double.nan
var singleRSS = Double.nan, singleServiceP99 = Double.nan, singleDaemonUs = Double.nan, singleRedisUs = Double.nan, singleLoaderUs = Double.nan
var singleCommands = [(command: String, calls: Double, usec: Double)](), singleCount = 0
var healthP99 = Double.nan, healthDaemonUs = Double.nan
if phases.contains("single") {
    let d = try Daemon(durability: o.durability)
    let pool = d.pool
    let redisCPU0 = try redisCPU(pool), daemonCPU0 = processCPU(d.process.pid), loaderCPU0 = processCPU(getpid())
    let count = min(o.singleRate * o.singleSeconds, lines.count)
    let run = PacedSingles(port: d.port, rate: Double(o.singleRate), connections: o.singleConnections).run(Array(lines.prefix(count)))
    let lat = run.fromDue
    singleRate = Double(lat.count) / run.seconds
    singleP50 = percentile(lat, 0.5)
    singleP90 = percentile(lat, 0.9)
    singleP99 = percentile(lat, 0.99)
    singleServiceP99 = percentile(run.service, 0.99)
    singleRedisUs = (try redisCPU(pool) - redisCPU0) * 1e6 / Double(lat.count)
    singleDaemonUs = (processCPU(d.process.pid) - daemonCPU0) * 1e6 / Double(lat.count)
    singleLoaderUs = (processCPU(getpid()) - loaderCPU0) * 1e6 / Double(lat.count)
    singleCommands = Array(try commandTimes(pool).prefix(8))
    singleCount = lat.count
    singleRSS = d.peakRSSMB
    // The anchor, on the same daemon at the same rate: `GET /healthz`, the HTTP server alone.
    let daemonCPU1 = processCPU(d.process.pid)
    let health = PacedSingles(port: d.port, rate: Double(o.singleRate), connections: o.singleConnections).runHealthChecks(count)
    healthP99 = percentile(health.fromDue, 0.99)
    healthDaemonUs = (processCPU(d.process.pid) - daemonCPU1) * 1e6 / Double(health.fromDue.count)
    pool.shutdown()
    d.stop()
}

// 3. The ceiling: redis-benchmark calling the merge script directly, same key and argument shapes.
/// (batch calls/s, events per call, single-event calls/s, HSET calls/s).
func measureCeiling() throws -> (batchCalls: Double, eventsPerCall: Int, singleCalls: Double, hsetCalls: Double) {
    let redis = try TestRedis(prefix: "ceiling", appendFsync: o.durability == "strict" ? "always" : "everysec")
    // Top-level values are never deinitialized: stop the ceiling's redis-server by hand.
    defer {
        redis.server.stop()
        redis.dir.remove()
    }
    let hot = HotTier(pool: redis.pool)
    let sha = try hot.pool.pipelineBlocking([["SCRIPT", "LOAD", HotTier.scriptSource].map { Array($0.utf8) }])[0].string!
    // A real batch from the stream: the events of one shard in one bulk of `o.bulk`.
    let sampleEvents = try lines.prefix(o.bulk).map { try EventDecoder.decode($0) }
    let calls = hot.commands(for: sampleEvents, sha: sha)
    let typical = calls.max { $0.count < $1.count }!
    let eventsPerCall = Int(String(decoding: typical[3 + Int(String(decoding: typical[2], as: UTF8.self))!], as: UTF8.self))!
    func randomized(_ cmd: [[UInt8]]) -> [String] {
        // Ticket keys and ids get __rand_int__ so that every call touches fresh or random tickets.
        cmd.map { a in
            let s = String(decoding: a, as: UTF8.self)
            if s.contains(":t:") { return String(s[..<s.range(of: ":t:")!.upperBound]) + "__rand_int__" }
            return s
        }
    }
    func redisBenchmark(_ cmd: [String], requests: Int) throws -> Double {
        let out = redis.dir.path + "/rb.txt"
        _ = try ChildProcess.run("redis-benchmark", ["-s", redis.socketPath, "-n", "\(requests)", "-c", "\(o.connections)", "-P", "16",
                                                     "-r", "\(o.tickets)", "-q"] + cmd, stdout: out)
        let text = String(decoding: readWholeFile(out) ?? [], as: UTF8.self)
        // "...: 12345.67 requests per second" (the last figure printed)
        let figures = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).compactMap { line -> Double? in
            guard let r = line.range(of: " requests per second") else { return nil }
            return Double(line[..<r.lowerBound].split(separator: " ").last ?? "")
        }
        return figures.last ?? .nan
    }
    let batchCalls = try redisBenchmark(randomized(typical), requests: max(2000, 200_000 / eventsPerCall))
    let single = try hot.commands(for: [sampleEvents[0]], sha: sha)[0]
    let singleCalls = try redisBenchmark(randomized(single), requests: 100_000)
    let hsetCalls = try redisBenchmark(["HSET", "k:__rand_int__", "f", "v"], requests: 200_000)
    return (batchCalls, eventsPerCall, singleCalls, hsetCalls)
}
let (batchCalls, eventsPerCall, singleCalls, hsetCalls) = phases.contains("ceiling") ? try measureCeiling() : (Double.nan, 0, Double.nan, Double.nan)

let ceiling = batchCalls * Double(eventsPerCall)
let ours = rates.isEmpty ? .nan : median(rates)
func median(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.sorted()[v.count / 2] }
print("")
print("write benchmark (\(o.workload)): \(o.tickets) tickets, \(lines.count) events, \(o.connections) connections, bulk \(o.bulk), durability \(o.durability), median of \(o.runs)")
print("  through the daemon:   \(f(ours, 0)) events/s   p50 \(f(median(p50s))) ms   p99 \(f(median(p99s))) ms   p999 \(f(median(p999s))) ms per bulk request")
print("  CPU per event:        Redis \(f(median(redisUsPerEvent), 2)) µs (goal ≤ 5), daemon \(f(median(daemonUsPerEvent), 2)) µs (goal ≤ 8); the load generator (this process, sharing the cores) \(f(median(loaderUsPerEvent), 2)) µs")
if o.bulkRate > 0 && phases.contains("paced") {
    print("  paced bulks:          \(o.bulkRate) events/s offered (\(bodies.count) bulks of \(o.bulk), \(o.connections) connections), \(f(pacedRate, 0)) achieved   p50 \(f(pacedP50)) ms   p90 \(f(pacedP90)) ms   p99 \(f(pacedP99)) ms   max \(f(pacedMax)) ms from when each was due (goal p99 < 50 ms at 50,000/s)")
}
if phases.contains("bulk") { print("  Redis time by command (run 1, INFO commandstats, µs per event, calls per event): " + topCommands.map { "\($0.command) \(f($0.usec / Double(lines.count), 2)) (\(f($0.calls / Double(lines.count), 3)))" }.joined(separator: ", ")) }
print("  daemon (last run):    \(daemonCounters)")
print("  daemon peak RSS:      \(f(median(rss))) MB")
print("  Redis memory:         \(f(median(bytesPerTicket), 0)) B per ticket in all after the replay; of which ticket state \(f(ticketKeyBytes, 0)) B + hot index \(f(indexBytes, 0)) B per ticket,")
print("                        change log \(f(logBytesPerEvent, 0)) B per accepted event, the rest per-minute/hour metric keys (bounded by retention, not by tickets)")
print("  single events:        \(f(singleRate, 0)) requests/s achieved of \(o.singleRate)/s offered on \(o.singleConnections) connections   p50 \(f(singleP50, 2)) ms   p90 \(f(singleP90, 2)) ms   p99 \(f(singleP99, 2)) ms from when each was due (goal p99 < 2 ms); p99 from when sent \(f(singleServiceP99, 2)) ms")
print("                        CPU per request: Redis \(f(singleRedisUs, 1)) µs, daemon \(f(singleDaemonUs, 1)) µs, the load generator \(f(singleLoaderUs, 1)) µs; daemon peak RSS \(f(singleRSS)) MB")
if singleCount > 0 {
    print("                        Redis time by command (INFO commandstats, µs per request, calls per request): " + singleCommands.map { "\($0.command) \(f($0.usec / Double(singleCount), 2)) (\(f($0.calls / Double(singleCount), 3)))" }.joined(separator: ", "))
    print("                        anchor, the HTTP server alone (GET /healthz, same rate, same daemon, right after): p99 \(f(healthP99, 2)) ms, daemon \(f(healthDaemonUs, 1)) µs per request")
}
print("  ceiling (redis-benchmark, same script, -P 16, \(o.connections) clients):")
print("    batch calls of \(eventsPerCall) events: \(f(batchCalls, 0)) calls/s = \(f(ceiling, 0)) events/s")
print("    one event per call:   \(f(singleCalls, 0)) events/s;  HSET alone: \(f(hsetCalls, 0)) calls/s")
print("  daemon / ceiling:     \(f(ours / ceiling, 2))")
