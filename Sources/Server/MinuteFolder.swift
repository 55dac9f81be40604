import Dispatch
import HotTier
import Logging
import Prometheus
import RedisClient
import ServiceLifecycle
import StrataCore
import SystemSupport

/// Folds each finished minute's counters into its hour (`MinuteFold`), every few seconds:
/// a minute stays open until a minute after it ends, by the wall clock (events of the last
/// minute still arrive). Several daemons on one Redis may all run it.
struct MinuteFolder: Service {
    let pool: RedisPool
    let options: HotTierOptions
    let logger: Logger
    var intervalSeconds = 5
    /// Minutes folded so far (`strata_hot_minutes_folded_total`).
    let folded: Counter

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await sleepUnlessStopping(for: .seconds(intervalSeconds))
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { break }
            let before = floorDiv(wallClockMilliseconds(), 60_000) - 1
            let pool = self.pool, options = self.options
            do {
                // Off the cooperative pool: the fold waits on Redis.
                let n = try await withCheckedThrowingContinuation { (done: CheckedContinuation<Int, any Error>) in
                    DispatchQueue.global().async { done.resume(with: Result { try MinuteFold.run(pool: pool, options: options, before: before) }) }
                }
                if n > 0 { folded.increment(by: Int64(n)) }
            } catch {
                logger.warning("folding finished minutes into their hours failed (\(error)); trying again")
            }
        }
    }
}
