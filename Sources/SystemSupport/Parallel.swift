import Dispatch
import Synchronization

/// Runs `body` over `items` on `workers` threads, results in input order; the first error
/// is rethrown after every worker stopped. The compactor and the hot-tier reads use two workers so that its own
/// decoding and encoding overlap with Redis's single thread serving the other worker.
public func parallelMap<T: Sendable, R: Sendable>(_ items: [T], workers: Int = 2, _ body: @Sendable (T) throws -> R) throws -> [R] {
    precondition(workers >= 1)
    let results = Mutex<[Int: R]>([:])
    let failure = Mutex<(any Error)?>(nil)
    let next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: min(workers, max(items.count, 1))) { _ in
        while failure.withLock({ $0 == nil }) {
            let i = next.add(1, ordering: .relaxed).oldValue
            guard i < items.count else { return }
            do {
                let r = try body(items[i])
                results.withLock { $0[i] = r }
            } catch {
                failure.withLock { if $0 == nil { $0 = error } }
            }
        }
    }
    if let e = failure.withLock({ $0 }) { throw e }
    return results.withLock { r in items.indices.map { r[$0]! } }
}

/// `body` run on another thread, started at once; `wait()` gives its result. A caller that
/// overlaps two stages (the compactor reads the next migration's tickets while this one
/// writes) must `wait()` before it returns, error or not, so that nothing runs on after it.
public final class Background<R: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    /// Written once by the worker before `done` is signalled, read after `wait` returns.
    private var result: Result<R, any Error>?

    public init(_ body: @escaping @Sendable () throws -> R) {
        DispatchQueue.global().async { [self] in
            result = Result { try body() }
            done.signal()
        }
    }

    /// Blocks until `body` has returned or thrown. Call it once.
    public func wait() -> Result<R, any Error> {
        done.wait()
        return result!
    }
}

/// Drops `value` on another thread: the release of a large graph of objects (a migration's
/// 40,000 selected tickets, three objects each: 14 ms) off the caller's critical path. The
/// caller passes it with `consume` and keeps no other reference, or the last release may
/// still be its own.
public func dropInBackground<T: Sendable>(_ value: consuming T) {
    let box = DropBox(value)
    DispatchQueue.global().async { box.value = nil }
}

private final class DropBox<T>: @unchecked Sendable {
    /// Set by the caller's thread, emptied once by the worker after the hand-off.
    var value: T?
    init(_ value: consuming T) { self.value = value }
}
