import Dispatch

/// A task executor whose jobs run on a Redis pool's dispatch queue, where blocking on a
/// connection is allowed. A task that prefers it (`Task(executorPreference:)`: the write
/// path's rounds) calls `RedisPool.pipeline` without a hop: on this queue the pipeline runs
/// inline, where from Swift's cooperative threads it goes to the queue and back, two
/// thread switches a round trip (a single event's round makes two round trips; the switches
/// were the largest cost of a single request, docs/benchmarks.md).
public final class RedisIOExecutor: TaskExecutor {
    /// Set on every pool's queue: `isCurrent` is true on any of them.
    static let marker = DispatchSpecificKey<Bool>()

    let queue: DispatchQueue

    init(queue: DispatchQueue) {
        queue.setSpecific(key: Self.marker, value: true)
        self.queue = queue
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// Whether the calling thread runs a Redis pool's queue (blocking I/O is fine here).
    public static var isCurrent: Bool { DispatchQueue.getSpecific(key: marker) == true }
}
