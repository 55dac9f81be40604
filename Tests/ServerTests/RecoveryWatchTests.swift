#if canImport(Glibc)
import Glibc
#endif
import Testing
import Foundation
import StrataCore
import SystemSupport
import StrataTesting
import RedisClient
import Dispatch
@testable import Server

/// The daemon's recovery watch (`RecoveryWatch`): what a compaction left half done is
/// finished within seconds, by a daemon with no compaction schedule of its own (compaction
/// runs as `strata compact`, an operator's nightly job), not at the next run.
@Suite(.serialized) struct RecoveryWatchTests {
    static let compactArgs = ["--hot-age", "40d", "--now", "2026-11-01T00:00:00Z"]

    /// A daemon fed a generated stream, and what its queries count: events, tickets and
    /// hourly counts over both tiers.
    struct Counts: Equatable { var events: Int64; var tickets: Int64; var counted: Int64 }

    func counts(_ daemon: DaemonHarness) throws -> Counts {
        func one(_ sql: String) throws -> Int64 {
            let r = try daemon.client().request("POST", "/v1/query?format=csv", body: Array(sql.utf8))
            guard r.status == 200, let last = r.text.split(whereSeparator: \.isNewline).last, let n = Int64(last) else {
                throw TestingFailure(description: "\(sql): \(r.status) \(r.text.prefix(300))")
            }
            return n
        }
        return Counts(events: try one("SELECT count(*) FROM ticket_events"), tickets: try one("SELECT count(*) FROM tickets"),
                      counted: try one("SELECT sum(value) FROM ticket_metrics"))
    }

    func metric(_ daemon: DaemonHarness, _ name: String) throws -> Int {
        let text = try daemon.client().request("GET", "/metrics").text
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
    }

    /// Polls `name` on /metrics until it reaches `want` (up to `seconds`); returns what it read last.
    func waitFor(_ daemon: DaemonHarness, _ name: String, _ want: Int, seconds: Double = 20) throws -> Int {
        let deadline = monotonicSeconds() + seconds
        var seen = try metric(daemon, name)
        while seen < want && monotonicSeconds() < deadline {
            usleep(100_000)
            seen = try metric(daemon, name)
        }
        return seen
    }

    func compact(_ daemon: DaemonHarness, _ extra: [String] = [], crashAfter: String? = nil) throws -> (Int32, String) {
        var env = ProcessInfo.processInfo.environment
        if let crashAfter { env["STRATA_COMPACT_CRASH_AFTER"] = crashAfter }
        let out = daemon.dir.path + "/compact-\(Int(monotonicSeconds() * 1000)).out"
        let code = try ChildProcess(try ProjectPaths.strata, ["compact", "--data-dir", daemon.data] + Self.compactArgs + extra,
                                    stdout: out, environment: env).wait()
        return (code, String(decoding: readWholeFile(out) ?? [], as: UTF8.self))
    }

    /// Redis comes back without a run's deletes (its append-only file as it was before the
    /// run: a machine stopped within the second, or a replica promoted without them). The
    /// daemon does them again within seconds: queries count every event and every hourly
    /// count once again.
    @Test func aDaemonDoesTheDeletesRedisLostWithinSeconds() async throws {
        let daemon = try DaemonHarness(["--insecure-no-auth"])
        let stream = try GeneratedStream.make(tickets: 800, in: daemon.dir.path)
        try sendAll(daemon.client(), stream.bulks(stream.lines[...], size: 400))
        let before = try counts(daemon)
        #expect(before.tickets == 800)
        // Redis's append-only directory as it is now (what it wrote is in the page cache:
        // the copy holds every acknowledged event).
        let redisDir = daemon.data + "/redis"
        try FileManager.default.copyItem(atPath: redisDir + "/appendonlydir", toPath: redisDir + "/aof-before-run")
        let (code, out) = try compact(daemon)
        #expect(code == 0 && out.contains("moved"), "\(out)")
        let afterRun = try counts(daemon)
        #expect(afterRun == before, "the run moved without changing what queries count")
        #expect(try metric(daemon, "strata_compaction_deletes_redone_total") == 0)
        // Lose the run's writes: the file swapped for the copy, Redis killed; the daemon's
        // watchdog starts it again on the copy.
        try FileManager.default.moveItem(atPath: redisDir + "/appendonlydir", toPath: redisDir + "/aof-after-run")
        try FileManager.default.moveItem(atPath: redisDir + "/aof-before-run", toPath: redisDir + "/appendonlydir")
        let pid = try #require(readWholeFile(redisDir + "/redis.pid").flatMap { Int32(String(decoding: $0, as: UTF8.self).filter(\.isNumber)) })
        kill(pid, SIGKILL)
        // The migration's and the rollup's deletes, done again by the daemon alone.
        let redone = try waitFor(daemon, "strata_compaction_deletes_redone_total", 2)
        let said = try logText(daemon)
        #expect(redone == 2, "\(said.suffix(2000))")
        #expect(try counts(daemon) == before, "every event, ticket and count once")
        let log = try logText(daemon)
        #expect(log.contains("Redis no longer held its deletes"), "\(log.suffix(2000))")
        // Nothing more to do: the next checks find the sentinels in place.
        usleep(2_500_000)
        #expect(try metric(daemon, "strata_compaction_deletes_redone_total") == 2)
        daemon.stop()
    }

    /// A `strata compact` killed after it registered its segments, before its Redis deletes
    /// (until recovered, its tickets' events are in both tiers). Once its lease expires, the
    /// daemon finishes the run.
    @Test func aDaemonFinishesACompactionThatCrashed() async throws {
        let daemon = try DaemonHarness(["--insecure-no-auth"])
        let stream = try GeneratedStream.make(tickets: 800, in: daemon.dir.path)
        try sendAll(daemon.client(), stream.bulks(stream.lines[...], size: 400))
        let before = try counts(daemon)
        let (code, out) = try compact(daemon, ["--lease", "2s"], crashAfter: "registered")
        #expect(code == 86, "\(out)")
        let recovered = try waitFor(daemon, "strata_compaction_runs_recovered_total", 1)
        #expect(recovered == 1)
        #expect(try counts(daemon) == before, "every event, ticket and count once")
        #expect(try logText(daemon).contains("its Redis deletes were finished"))
        // The next run moves nothing twice.
        let (again, said) = try compact(daemon)
        #expect(again == 0, "\(said)")
        #expect(try counts(daemon) == before)
        daemon.stop()
    }

    /// A daemon that starts (a machine restarted) finishes what a crashed run left before it
    /// is asked anything: here a `strata compact` killed after registering while the daemon
    /// was down, on an external Redis.
    @Test func aDaemonStartingFinishesACompactionThatCrashed() async throws {
        let redis = try TestRedis(prefix: "watch-start")
        let daemon = try DaemonHarness(["--insecure-no-auth", "--redis", redis.socketPath])
        let stream = try GeneratedStream.make(tickets: 800, in: daemon.dir.path)
        try sendAll(daemon.client(), stream.bulks(stream.lines[...], size: 400))
        let before = try counts(daemon)
        #expect(daemon.stop() == 0)
        let (code, out) = try compact(daemon, ["--redis", redis.socketPath, "--lease", "1s"], crashAfter: "registered")
        #expect(code == 86, "\(out)")
        usleep(1_200_000)  // the crashed run's lease expires
        let file = daemon.dir.path + "/status.out"
        #expect(try ChildProcess(try ProjectPaths.strata, ["status", "--data-dir", daemon.data, "--redis", redis.socketPath], stdout: file).wait() == 0)
        let said = String(decoding: readWholeFile(file) ?? [], as: UTF8.self)
        #expect(said.contains("compaction  none running") && said.contains("unfinished  run ") && said.contains("(migrate, at registered)"), "\(said)")
        try daemon.start()
        #expect(try waitFor(daemon, "strata_compaction_runs_recovered_total", 1) == 1)
        #expect(try counts(daemon) == before, "every event, ticket and count once")
        let log = try logText(daemon)
        #expect(log.contains("compaction at start: run"), "\(log.suffix(1500))")
        daemon.stop()
    }

    /// A `strata compact` that finds the lease held (here by a holder set by hand, as the
    /// daemon's watch holds it while it finishes a run) exits 2 at once; with `--wait` it
    /// waits for the lease and runs, and gives up with 2 when the wait is shorter than the
    /// holder's lease.
    @Test func aCompactWithWaitRunsOnceTheLeaseIsFree() async throws {
        let daemon = try DaemonHarness(["--insecure-no-auth"])
        let stream = try GeneratedStream.make(tickets: 400, in: daemon.dir.path)
        try sendAll(daemon.client(), stream.bulks(stream.lines[...], size: 400))
        let before = try counts(daemon)
        let pool = daemon.redisPool()
        defer { pool.shutdown() }
        func hold(ms: Int) throws {
            let r = try pool.pipelineBlocking([["SET", "st:compactor:lease", "someone-else", "PX", String(ms)].map { Array($0.utf8) }])[0]
            #expect(r.string == "OK")
        }
        func status() throws -> String {
            let file = daemon.dir.path + "/status-\(Int(monotonicSeconds() * 1000)).out"
            #expect(try ChildProcess(try ProjectPaths.strata, ["status", "--data-dir", daemon.data], stdout: file).wait() == 0)
            return String(decoding: readWholeFile(file) ?? [], as: UTF8.self)
        }
        try hold(ms: 60_000)
        let held = try status()
        #expect(held.contains("compaction  running now (the lease st:compactor:lease is held"), "\(held)")
        var (code, out) = try compact(daemon)
        #expect(code == 2 && out.contains("another compaction is running"), "\(out)")
        // A wait shorter than the holder's lease: refused once it is over, nothing moved.
        var started = monotonicSeconds()
        (code, out) = try compact(daemon, ["--wait", "1s"])
        #expect(code == 2 && out.contains("waiting up to 1s"), "\(out)")
        #expect(monotonicSeconds() - started >= 1)
        #expect(try counts(daemon) == before)
        // A wait longer than what is left of it: the run starts once the holder lets go.
        try hold(ms: 2_500)
        started = monotonicSeconds()
        (code, out) = try compact(daemon, ["--wait", "30s"])
        let waited = monotonicSeconds() - started
        #expect(code == 0 && out.contains("waiting up to 30s") && out.contains("moved"), "\(out)")
        #expect(waited >= 2 && waited < 25, "waited \(waited) s")
        #expect(try counts(daemon) == before, "every event, ticket and count once")
        let leaseKept = try pool.pipelineBlocking([["EXISTS", "st:compactor:lease"].map { Array($0.utf8) }])[0]
        #expect(leaseKept.int == 0, "the run let its lease go")
        let free = try status()
        #expect(free.contains("compaction  none running") && !free.contains("unfinished"), "\(free)")
        daemon.stop()
    }

    /// The daemon's scheduled run and its watch take turns: the scheduler waits for the
    /// watch's short recovery; the watch skips a round while a scheduled run (which may take
    /// an hour, and recovers as it starts) holds the gate.
    @Test func theWatchSkipsARoundWhileAScheduledRunHoldsTheGate() throws {
        let gate = CompactionGate()
        let holding = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { _ = try? gate.run { holding.signal(); release.wait(); return 0 } }
        holding.wait()
        #expect(try gate.runIfFree { 1 } == nil)
        release.signal()
        var got: Int? = nil
        for _ in 0..<500 where got == nil {
            got = try gate.runIfFree { 2 }
            if got == nil { usleep(10_000) }
        }
        #expect(got == 2)
    }

    func logText(_ daemon: DaemonHarness) throws -> String {
        let dir = daemon.dir.path
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("daemon.log") }
        return logs.map { String(decoding: readWholeFile(dir + "/" + $0) ?? [], as: UTF8.self) }.joined()
    }
}
