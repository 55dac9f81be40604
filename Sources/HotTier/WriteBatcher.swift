import Synchronization

/// Group commit for the write path: the events of concurrent callers (HTTP requests, the
/// streams of a later ingest) go to Redis together, as one `HotTier.apply` round, so that
/// each shard's read and write script carry more events and Redis pays its per-call and
/// per-command costs once for all of them. Each caller gets its own events' outcomes once
/// the round that held them is applied, or that round's error; nothing is acknowledged
/// earlier than it would be alone.
///
/// At most `roundsInFlight` rounds run at once (while one waits for Redis, the next merges),
/// each taking every queued caller up to `maxEvents` events (a caller's events are never
/// split; a caller with more starts a round of its own). docs/hot-tier.md, "Group commit".
public final class WriteBatcher: Sendable {
    public struct Stats: Sendable {
        /// Rounds applied, and the events and callers they held.
        public var rounds = 0, events = 0, callers = 0
    }

    struct Waiter {
        var events: [TicketEvent]
        var done: CheckedContinuation<[ApplyOutcome], any Error>
    }

    struct State {
        /// Callers waiting for a round. A round removes the ones it takes at once: a taken
        /// caller's events must not outlive its round (they are the request's whole body).
        var queue: [Waiter] = []
        var running = 0
        var stats = Stats()
    }

    public let hot: HotTier
    public let cold: (any ColdTicketSource)?
    public let maxEvents: Int
    public let roundsInFlight: Int
    private let state = Mutex(State())

    public init(hot: HotTier, cold: (any ColdTicketSource)?, maxEvents: Int = 4096, roundsInFlight: Int = 2) {
        precondition(maxEvents >= 1 && roundsInFlight >= 1)
        self.hot = hot
        self.cold = cold
        self.maxEvents = maxEvents
        self.roundsInFlight = roundsInFlight
    }

    public var stats: Stats { state.withLock { $0.stats } }

    /// Applies `events` in the next round; their outcomes, in order.
    public func apply(_ events: [TicketEvent]) async throws -> [ApplyOutcome] {
        guard !events.isEmpty else { return [] }
        return try await withCheckedThrowingContinuation { (done: CheckedContinuation<[ApplyOutcome], any Error>) in
            let start = state.withLock { s -> Bool in
                s.queue.append(Waiter(events: events, done: done))
                guard s.running < roundsInFlight else { return false }
                s.running += 1
                return true
            }
            if start { Task { await self.runRounds() } }
        }
    }

    /// Runs rounds until the queue is empty.
    private func runRounds() async {
        while let round = nextRound() {
            let events = round.count == 1 ? round[0].events : round.flatMap(\.events)
            do {
                let outcomes = try await hot.apply(events, cold: cold)
                precondition(outcomes.count == events.count, "one outcome per event")
                var at = 0
                for w in round {
                    w.done.resume(returning: Array(outcomes[at..<(at + w.events.count)]))
                    at += w.events.count
                }
            } catch {
                for w in round { w.done.resume(throwing: error) }
            }
        }
    }

    /// The callers of the next round (nil, and one round fewer running, when none wait).
    private func nextRound() -> [Waiter]? {
        state.withLock { s in
            guard !s.queue.isEmpty else {
                s.running -= 1
                return nil
            }
            var taken = 1
            var count = s.queue[0].events.count
            while taken < s.queue.count, count + s.queue[taken].events.count <= maxEvents {
                count += s.queue[taken].events.count
                taken += 1
            }
            // The queue holds at most the callers in flight (`--max-in-flight`): removing from
            // its front costs less than what the round does with them.
            let round = Array(s.queue[..<taken])
            s.queue.removeFirst(taken)
            s.stats.rounds += 1
            s.stats.events += count
            s.stats.callers += round.count
            return round
        }
    }

    /// Events held for callers not yet taken by a round (for tests: zero once all are answered).
    var queuedEvents: Int { state.withLock { $0.queue.reduce(0) { $0 + $1.events.count } } }
}
