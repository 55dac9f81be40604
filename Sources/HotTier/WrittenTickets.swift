import Synchronization

/// The tickets this daemon wrote a moment ago, as it wrote them (docs/hot-tier.md,
/// "Tickets written a moment ago"): the merged write path merges over these bytes instead
/// of reading the ticket again. It is only a hint. The write script still compares every
/// ticket with the bytes the merge started from, so a stale entry (another daemon, the
/// compactor, a write that failed) costs one lost race, after which the entries of that
/// shard batch are dropped and read from Redis. At most `capacity` tickets, oldest first out.
final class WrittenTickets: Sendable {
    struct State {
        var blobs: [Int64: (blob: [UInt8], seq: Int)] = [:]
        /// Insertion order, for eviction: (id, seq); stale pairs are skipped.
        var order: [(id: Int64, seq: Int)] = []
        var head = 0
        var seq = 0
        var hits = 0, misses = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        precondition(capacity >= 0)
        self.capacity = capacity
    }

    /// The bytes last written for each id that has them.
    func lookup(_ ids: [Int64]) -> [Int64: [UInt8]] {
        guard capacity > 0 else { return [:] }
        return state.withLock { s in
            var out = [Int64: [UInt8]]()
            for id in ids {
                if let e = s.blobs[id] { out[id] = e.blob }
            }
            s.hits += out.count
            s.misses += ids.count - out.count
            return out
        }
    }

    /// Ticket `id` now holds `blob` (or is about to: the write is on its way).
    func store(_ writes: [(id: Int64, blob: [UInt8])]) {
        guard capacity > 0 else { return }
        state.withLock { s in
            for (id, blob) in writes {
                s.seq += 1
                s.blobs[id] = (blob, s.seq)
                s.order.append((id, s.seq))
            }
            while s.blobs.count > capacity, s.head < s.order.count {
                let (id, seq) = s.order[s.head]
                s.head += 1
                if s.blobs[id]?.seq == seq { s.blobs[id] = nil }
            }
            if s.head > 4096 && s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            // Rewrites of kept tickets leave stale pairs behind; below capacity nothing is
            // evicted, so without this the queue grew by a pair per write, forever (16 B a
            // write: 1.6 GB a day at 100 million writes over a working set under capacity).
            if s.order.count - s.head > 2 * s.blobs.count + 1024 {
                let live = s.order[s.head...].filter { s.blobs[$0.id]?.seq == $0.seq }
                s.order = Array(live)
                s.head = 0
            }
        }
    }

    /// Forgets these tickets: the next merge reads them from Redis.
    func drop(_ ids: [Int64]) {
        guard capacity > 0 else { return }
        state.withLock { s in for id in ids { s.blobs[id] = nil } }
    }

    /// Reads skipped and made since the start.
    var counts: (hits: Int, misses: Int) { state.withLock { ($0.hits, $0.misses) } }
    var count: Int { state.withLock { $0.blobs.count } }
    /// Pairs in the eviction queue (for tests: bounded by the tickets kept, not the writes made).
    var queued: Int { state.withLock { $0.order.count - $0.head } }
}
