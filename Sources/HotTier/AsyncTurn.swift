import Synchronization

/// A first-come, first-served lock for async code: the merged write path sends one round's
/// writes at a time, in the order the rounds reached it, so that a round that merged over
/// another's pending writes reaches Redis after them.
final class AsyncTurn: Sendable {
    struct State {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    func acquire() async {
        // Free: taken without suspending (a suspension sends the task through its executor).
        if state.withLock({ s in if s.busy { return false }; s.busy = true; return true }) { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if !s.busy { s.busy = true; return true }
                s.waiting.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiting.isEmpty { s.busy = false; return nil }
            return s.waiting.removeFirst()
        }
        next?.resume()
    }
}
