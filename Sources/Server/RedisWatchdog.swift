import Logging
import RedisClient
import ServiceLifecycle
import SystemSupport

/// Restarts the managed redis-server if it dies (it replays its append-only file), so
/// that the daemon recovers on its own; meanwhile requests get 503 + Retry-After.
struct RedisWatchdog: Service {
    let server: RedisServer
    let logger: Logger
    var intervalMs = 200

    func run() async throws {
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            await sleepUnlessStopping(for: .milliseconds(intervalMs * (1 << min(failures, 5))))
            guard !Task.isShuttingDownGracefully, !Task.isCancelled, !FatalSignals.dying, server.hasExited() else { continue }
            logger.error("the managed redis-server exited; restarting it (it replays its append-only file)")
            do {
                try server.restart()
                FatalSignals.setChild(server.pid ?? 0)  // the new one is what a crash must stop
                failures = 0
                logger.notice("the managed redis-server is back")
            } catch {
                failures += 1
                logger.error("restarting redis-server failed (\(error)); trying again")
            }
        }
    }
}
