#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Foundation
import Catalog
import ColdStore
import Compactor
import HotTier
import Logging
import Prometheus
import RedisClient
import ServiceLifecycle

/// `strata serve --compact-at HH:MM [--compact-tz Zone] [--compact-above N]`: runs the
/// compactor every day at that local time, and whenever the hot tier holds more than N
/// tickets. Runs are exclusive across hosts through the compactor's lease.
struct CompactionScheduler: Service {
    struct Settings: Sendable {
        var at: (hour: Int, minute: Int)?
        var timeZone: TimeZone = TimeZone(identifier: "UTC")!
        var aboveTickets: Int?
        var policy = CompactionPolicy()
        var checkEverySeconds = 60
    }

    let settings: Settings
    let pool: RedisPool
    let layout: KeyLayout
    let dataDirectory: String
    let logger: Logger
    let metrics: CompactionMetrics
    /// Shared with the recovery watch (`RecoveryWatch`): one run at a time in the daemon.
    let gate: CompactionGate

    /// The next daily run after `date`.
    static func nextRun(after date: Date, hour: Int, minute: Int, in zone: TimeZone) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar.nextDate(after: date, matching: DateComponents(hour: hour, minute: minute, second: 0), matchingPolicy: .nextTime)!
    }

    func run() async throws {
        var next = settings.at.map { Self.nextRun(after: Date(), hour: $0.hour, minute: $0.minute, in: settings.timeZone) }
        if let next { logger.info("next compaction at \(next) (\(settings.timeZone.identifier))") }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await sleepUnlessStopping(for: .seconds(settings.checkEverySeconds))
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            var due = false
            if let n = next, Date() >= n {
                due = true
                next = Self.nextRun(after: Date(), hour: settings.at!.hour, minute: settings.at!.minute, in: settings.timeZone)
            }
            if let limit = settings.aboveTickets, let count = try? hotTickets(), count > limit {
                logger.notice("the hot tier holds \(count) tickets, over \(limit): compacting")
                due = true
            }
            await updateLag()
            if due { await runOnce() }
        }
    }

    func hotTickets() throws -> Int {
        try HotIndex(pool: pool, layout: layout).counts(shards: Array(0..<layout.shards)).reduce(0, +)
    }

    /// Seconds by which the oldest hot ticket is past the policy (0 when none is), to the
    /// hour: the hot index holds an hour no later than that of updated_at
    /// (`KeyLayout.hotIndexScore`), and the oldest few of each shard are read and their
    /// scores raised when behind (`HotIndexRescore.oldestHour`).
    func updateLag() async {
        let now = ColdDirectory.nowMs()
        let oldest: Int64?
        do { oldest = try HotIndexRescore(pool: pool, layout: layout).oldestHour() } catch {
            logger.debug("compaction lag not measured: \(error)")
            return
        }
        let lag = oldest.map { max(0, now - settings.policy.hotAgeMs - $0) } ?? 0
        metrics.lag.set(Double(lag) / 1000)
    }

    func runOnce() async {
        let started = ContinuousClock.now
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                defer { done.resume() }
                do {
                    let cold = ColdDirectory(dataDirectory: dataDirectory)
                    let catalog = try Catalog(path: cold.catalogPath)
                    let compactor = Compactor(pool: pool, layout: layout, catalog: catalog, cold: cold, policy: settings.policy)
                    let report = try gate.run { try compactor.runOnce(nowMs: ColdDirectory.nowMs()) }
                    metrics.runs(.ok).increment()
                    metrics.tickets.increment(by: Int64(report.tickets - report.keptHot))
                    metrics.events.increment(by: Int64(report.events))
                    metrics.bytes.increment(by: Int64(report.bytes))
                    metrics.comparedCalls.increment(by: Int64(report.comparedCalls))
                    metrics.redone.increment(by: Int64(report.redoneRuns))
                    metrics.recovered.increment(by: Int64(report.recovered.count - report.redoneRuns))
                    metrics.reopenedRows.increment(by: Int64(report.reopenedRows))
                    logger.notice("\(report)")
                } catch let e as CompactionError {
                    if case .busy = e { metrics.runs(.busy).increment() } else { metrics.runs(.failed).increment() }
                    logger.warning("compaction: \(e)")
                } catch {
                    metrics.runs(.failed).increment()
                    logger.error("compaction failed: \(error)")
                }
            }
        }
        metrics.duration.record(ContinuousClock.now - started)
    }
}

/// Prometheus metrics of compaction runs.
final class CompactionMetrics: Sendable {
    enum Result: String { case ok, busy, failed }
    private let ok: Counter, busy: Counter, failed: Counter
    let tickets: Counter, events: Counter, bytes: Counter, comparedCalls: Counter, redone: Counter, recovered: Counter, reopenedRows: Counter
    let duration: DurationHistogram
    let lag: Gauge

    init(registry: PrometheusCollectorRegistry) {
        let runs = ServerMetrics.name("compaction", "runs", "total", "Compaction runs by result")
        ok = registry.makeCounter(descriptor: runs, labels: [("result", "ok")])
        busy = registry.makeCounter(descriptor: runs, labels: [("result", "busy")])
        failed = registry.makeCounter(descriptor: runs, labels: [("result", "failed")])
        tickets = registry.makeCounter(descriptor: ServerMetrics.name("compaction", "tickets_moved", "total", "Tickets moved to the cold tier"))
        events = registry.makeCounter(descriptor: ServerMetrics.name("compaction", "events_moved", "total", "Change-log entries moved to the cold tier"))
        bytes = registry.makeCounter(descriptor: ServerMetrics.name("compaction", "written", "bytes", "Segment bytes written by compaction"))
        comparedCalls = registry.makeCounter(descriptor: ServerMetrics.name("compaction", "compared_calls", "total",
                                                                            "Delete calls that compared values: their shard was written to during its migration"))
        redone = registry.makeCounter(descriptor: ServerMetrics.name("compaction", "deletes_redone", "total",
                                                                     "Migrations and rollups whose Redis deletes a later run found lost (Redis restarted without them, or a replica took over) and did again"))
        recovered = registry.makeCounter(descriptor: ServerMetrics.name("compaction", "runs_recovered", "total",
                                                                        "Runs that crashed (a compactor killed, its lease expired) and were finished or undone by a later run or the daemon's recovery watch"))
        reopenedRows = registry.makeCounter(descriptor: ServerMetrics.name("compaction", "reopened_rows_superseded", "total",
                                                                           "Older cold rows of tickets moved again after they came back from the cold tier, superseded as the new rows registered"))
        duration = registry.makeDurationHistogram(descriptor: ServerMetrics.name("compaction", "run_duration", "seconds", "Compaction run duration"),
                                                  buckets: [.seconds(1), .seconds(10), .seconds(60), .seconds(300), .seconds(1800), .seconds(7200)])
        lag = registry.makeGauge(descriptor: ServerMetrics.name("compaction", "lag", "seconds", "How far the oldest hot ticket is past the hot-age policy (the hot index holds hours: up to an hour more)"))
    }

    func runs(_ r: Result) -> Counter {
        switch r { case .ok: return ok; case .busy: return busy; case .failed: return failed }
    }
}
