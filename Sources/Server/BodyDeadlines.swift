import Dispatch
import ServiceLifecycle
import Synchronization

/// The request bodies being read, each with its deadline (`StrataServer.collectBody`); one
/// sweep every `sweepMilliseconds` fires those past it. It replaced an event loop timer per
/// request: scheduling it and cancelling it from the request's task woke the event loop's
/// thread twice per request, a good part of a single event's cost (docs/benchmarks.md).
/// A deadline fires at most `sweepMilliseconds` late, which a body timeout of seconds
/// does not notice.
public final class BodyDeadlines: Service, Sendable {
    private struct Pending {
        var next: UInt64 = 0
        var due: [UInt64: (at: UInt64, fire: @Sendable () -> Void)] = [:]
    }

    private let state = Mutex(Pending())
    let sweepMilliseconds: Int

    public init(sweepMilliseconds: Int = 200) {
        precondition(sweepMilliseconds > 0 && sweepMilliseconds <= 10_000, "a sweep every 1 ms to 10 s")
        self.sweepMilliseconds = sweepMilliseconds
    }

    /// `fire` runs once `seconds` from now unless `remove(token)` comes first.
    func add(seconds: Int, fire: @escaping @Sendable () -> Void) -> UInt64 {
        let at = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds)) * 1_000_000_000
        return state.withLock { s in
            s.next += 1
            s.due[s.next] = (at, fire)
            return s.next
        }
    }

    func remove(_ token: UInt64) {
        _ = state.withLock { $0.due.removeValue(forKey: token) }
    }

    /// Bodies still being read (for tests and metrics).
    var count: Int { state.withLock { $0.due.count } }

    /// Fires (outside the lock) every deadline at or before `now`.
    func sweep(now: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        let fired = state.withLock { s -> [@Sendable () -> Void] in
            let expired = s.due.filter { $0.value.at <= now }
            for token in expired.keys { s.due.removeValue(forKey: token) }
            return expired.values.map(\.fire)
        }
        for fire in fired { fire() }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(sweepMilliseconds))
            sweep()
        }
        sweep(now: .max)  // nothing waits for a body after the server has stopped
    }
}
