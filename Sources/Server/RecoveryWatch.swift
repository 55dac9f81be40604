import Catalog
import ColdStore
import Compactor
import Dispatch
import Foundation
import HotTier
import Logging
import RedisClient
import ServiceLifecycle
import Synchronization

/// Finishes what compaction left half done as soon as it shows, not at the next run (which
/// may be a night away): as the daemon starts, `Compactor.recoverOnce`; then every second a
/// read-only check (`Compactor.recoveryNeeded`: a run that crashed and whose lease expired,
/// or a run done whose deletes Redis no longer holds, after a restart without its last
/// writes or a failover), and `recoverOnce` when it finds one. Until then queries count the
/// returned events and hourly counts twice (docs/tiering.md, "When Redis loses a run's
/// deletes"); this bounds that to about a second after Redis is back. Every daemon with a
/// data directory runs it, with or without a compaction schedule.
struct RecoveryWatch: Service {
    let pool: RedisPool
    let layout: KeyLayout
    let dataDirectory: String
    let policy: CompactionPolicy
    let gate: CompactionGate
    let logger: Logger
    let metrics: CompactionMetrics
    var intervalMs = 1_000

    func run() async throws {
        var atStart = true
        // Opened once the catalog exists, and kept: opening one takes its write lock a moment.
        var catalog: Catalog?
        // Failures in a row: each doubles the wait, up to a minute (a Redis that is down, a
        // catalog that cannot be read: logged once a round, not every second).
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let whole = atStart, open = catalog
            let (opened, failed) = await offThePool { check(whole: whole, catalog: open) }
            catalog = opened
            atStart = false
            failures = failed ? failures + 1 : 0
            await sleepUnlessStopping(for: .milliseconds(min(intervalMs << min(failures, 6), 60_000)))
        }
    }

    /// One round: `whole` recovers without asking first (the daemon's start: also the hot
    /// index's upgrade and the sweep of temporary files). Nothing to do without a catalog.
    /// Returns the catalog, opened if it was not, and whether the round failed.
    func check(whole: Bool, catalog open: Catalog?) -> (Catalog?, failed: Bool) {
        let cold = ColdDirectory(dataDirectory: dataDirectory)
        var catalog = open
        do {
            if catalog == nil {
                guard FileManager.default.fileExists(atPath: cold.catalogPath) else { return (nil, false) }
                catalog = try Catalog(path: cold.catalogPath)
            }
            let compactor = Compactor(pool: pool, layout: layout, catalog: catalog!, cold: cold, policy: policy)
            if !whole {
                guard let why = try compactor.recoveryNeeded() else { return (catalog, false) }
                logger.notice("compaction left work to finish: \(why)")
            }
            // A scheduled run of this daemon under way does the same as it starts, and holds
            // the lease: not waited for (it may take an hour), checked again after it.
            guard let report = try gate.runIfFree({ try compactor.recoverOnce(nowMs: ColdDirectory.nowMs()) }) else { return (catalog, false) }
            metrics.redone.increment(by: Int64(report.redoneRuns))
            metrics.recovered.increment(by: Int64(report.recovered.count - report.redoneRuns))
            for line in report.recovered { logger.notice("compaction \(whole ? "at start" : "recovery"): \(line)") }
        } catch let e as CompactionError {
            // Busy: a run under way does the same as it starts, or this check comes again.
            logger.info("compaction \(whole ? "at start" : "recovery"): \(e)")
            return (catalog, true)
        } catch {
            logger.warning("compaction \(whole ? "at start" : "recovery") failed: \(error)")
            return (nil, true)  // the catalog opened again next round (a file replaced, say)
        }
        return (catalog, false)
    }

    func offThePool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (done: CheckedContinuation<T, Never>) in
            DispatchQueue.global().async { done.resume(returning: body()) }
        }
    }
}

/// One compaction at a time within the daemon: the scheduler's runs and the recovery
/// watch's. Across processes and hosts the compactor's lease does it; this keeps the
/// daemon's own two from refusing each other (a scheduled run refused by the lease would
/// wait a day).
final class CompactionGate: Sendable {
    private let mutex = Mutex(())

    /// Waits for the other to finish, then runs `body`.
    func run<T: Sendable>(_ body: () throws -> T) throws -> T {
        try mutex.withLock { _ in try body() }
    }

    /// Runs `body` unless the other is running (nil then).
    func runIfFree<T: Sendable>(_ body: () throws -> T) throws -> T? {
        try mutex.withLockIfAvailable { _ in try body() }
    }
}
