#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Catalog
import ColdStore
import Compactor
import HotTier
import RedisClient
import StrataCore
import SystemSupport

struct CompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Run one compaction: move aged tickets and their change-log entries to the cold tier, then exit.",
        discussion: """
        For cron or a systemd timer. Finishes or undoes what a crashed run left first. \
        Uses the Redis of DATA's daemon (DATA/redis/redis.sock) unless --redis is given. \
        Exit code 0 when done, 1 with a message otherwise, 2 when another run held the lease \
        (for longer than --wait, if given: a nightly job should wait rather than skip the night \
        because the daemon was finishing an interrupted run at that moment).
        """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var hotTier: HotTierLocation

    @Option(help: "Move tickets whose updated_at is older than this: 7d, 36h, 90m.")
    var hotAge = "7d"

    @Option(help: "Move each hour of counters to ticket_metrics once it ended this long ago (the per-minute retention).")
    var metricsAge = "48h"

    @Option(help: "Most tickets moved in one run (1...100000000).")
    var maxTickets = 1_000_000

    @Option(help: "Tickets moved per migration, each its own saga and segments (1...10000000): bounds the run's memory, about 1.6 KB a ticket, two migrations at a time (one is read while the one before it writes).")
    var ticketsPerMigration = CompactionPolicy().ticketsPerMigration

    @Option(help: "Lease of the single-runner lock, renewed while the run lasts (a crashed runner's lease expires after it).")
    var lease = "30s"

    @Option(help: "If another run holds the lease, wait up to this long for it (10m, 30s; 0: exit 2 at once), then run.")
    var wait = "0"

    @Option(help: "Pretend the time is this (RFC 3339), for replays of history and tests.")
    var now: String?

    @Flag(help: "Print what would move, change nothing.")
    var dryRun = false

    func validate() throws {
        guard (1...100_000_000).contains(maxTickets) else { throw ValidationError("--max-tickets must be 1...100000000, not \(maxTickets)") }
        guard (1...10_000_000).contains(ticketsPerMigration) else {
            throw ValidationError("--tickets-per-migration must be 1...10000000, not \(ticketsPerMigration)")
        }
        guard waitMs != nil else { throw ValidationError("--wait must be 0 or like 10m or 30s (at most 1d), not \(wait)") }
    }

    /// `--wait` in milliseconds (nil: not a duration this takes).
    var waitMs: Int64? {
        guard let ms = wait == "0" ? 0 : Self.duration(wait), ms <= 86_400_000 else { return nil }
        return ms
    }

    func run() throws {
        guard let ageMs = Self.duration(hotAge) else { throw ValidationError("--hot-age must be like 7d, 36h or 90m, got \(hotAge)") }
        var nowMs = ColdDirectory.nowMs()
        if let now {
            guard let t = Timestamp.parse(now) else { throw ValidationError("--now must be an RFC 3339 time, got \(now)") }
            nowMs = t
        }
        let pool = try hotTier.pool(dataDir: global.dataDir)
        let endpoint = pool.endpoint
        defer { pool.shutdown() }
        do { _ = try pool.pipelineBlocking([[Array("PING".utf8)]]) } catch {
            printErr("cannot reach Redis at \(endpoint) (\(error)); start `strata serve --data-dir \(global.dataDir)` or pass --redis")
            throw ExitCode(1)
        }
        let cold = ColdDirectory(dataDirectory: global.dataDir)
        _ = try ChildProcess.run("/bin/mkdir", ["-p", global.dataDir])
        let catalog = try Catalog(path: cold.catalogPath)
        var policy = CompactionPolicy()
        policy.hotAgeMs = ageMs
        policy.maxTicketsPerRun = maxTickets
        policy.ticketsPerMigration = ticketsPerMigration
        guard let metricsMs = Self.duration(metricsAge) else { throw ValidationError("--metrics-age must be like 48h or 2d, got \(metricsAge)") }
        policy.metricsHotAgeMs = metricsMs
        guard let leaseMs = Self.duration(lease), leaseMs >= 300 else { throw ValidationError("--lease must be like 30s or 2m (at least 300 ms)") }
        policy.leaseMs = Int(leaseMs)
        let compactor = Compactor(pool: pool, layout: hotTier.layout, catalog: catalog, cold: cold, policy: policy)
        if dryRun {
            let plan = try compactor.plan(nowMs: nowMs)
            print("would move \(plan.tickets) tickets (updated before \(Timestamp.format(nowMs - ageMs))) and \(plan.events) change-log entries, and \(plan.metricHours) hour(s) of counters (ended before \(Timestamp.format(nowMs - metricsMs))); \(try catalog.unfinishedRuns().count) unfinished run(s) to recover")
            return
        }
        compactor.progress = { printErr($0) }
        // Crash injection for the subprocess tests: a real process exit after a step.
        if let step = getenv("STRATA_COMPACT_CRASH_AFTER").map({ String(cString: $0) }) {
            // "written" crashes after the first run of any kind that reaches it; "merge:written" after a merge's.
            compactor.afterStep = { kind, reached in
                if reached.rawValue == step || "\(kind.rawValue):\(reached.rawValue)" == step {
                    printErr("crash injected after \(step)")
                    Glibc.exit(86)
                }
            }
        }
        do {
            // A run that waited ages tickets by the time it starts, unless --now fixed the time.
            let report = try runWaitingForTheLease(compactor, now: { self.now == nil ? ColdDirectory.nowMs() : nowMs }, waitMs: waitMs ?? 0)
            print(report)
        } catch let e as CompactionError {
            printErr("compaction failed: \(e)")
            if case .busy = e { throw ExitCode(2) }
            throw ExitCode(1)
        } catch {
            printErr("compaction failed: \(error)")
            throw ExitCode(1)
        }
    }

    /// Runs once; while another run holds the lease (`busy`, refused before anything is
    /// touched), tries again every second until `waitMs` have passed.
    func runWaitingForTheLease(_ compactor: Compactor, now: () -> Int64, waitMs: Int64) throws -> CompactionReport {
        let deadline = monotonicSeconds() + Double(waitMs) / 1000
        var said = false
        while true {
            do {
                return try compactor.runOnce(nowMs: now())
            } catch CompactionError.busy(let why) where monotonicSeconds() < deadline {
                if !said {
                    printErr("another compaction is running (\(why)); waiting up to \(wait) for it")
                    said = true
                }
                usleep(UInt32(max(0.01, min(1, deadline - monotonicSeconds())) * 1_000_000))
            }
        }
    }

    static func duration(_ text: String) -> Int64? {
        guard let unit = text.last, let n = Int64(text.dropLast()), n > 0 else { return nil }
        switch unit {
        case "d": return n * 86_400_000
        case "h": return n * 3_600_000
        case "m": return n * 60_000
        case "s": return n * 1000
        default: return nil
        }
    }
}
