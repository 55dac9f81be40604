import RedisClient
import StrataCore

/// Brings hot index scores that fell behind up to their ticket's hour (docs/hot-tier.md,
/// "Keys": a writer lowers a score, never raises it, so a score is at most the hour of the
/// ticket's updated_at, and usually earlier for a ticket patched in later hours).
///
/// The compactor calls it for the tickets its selection found not aged, so that the next
/// selection does not find them again; the scheduler for the oldest ticket of each shard,
/// so that `strata_compaction_lag_seconds` tells the oldest ticket's real age.
///
/// A score is set only if the ticket is still the value read (compared whole, in the same
/// atomic call), so the score set is exactly its hour; a ticket changed meanwhile keeps
/// its score, which the writer that changed it kept at most its hour.
public struct HotIndexRescore: Sendable {
    public let pool: RedisPool
    public let layout: KeyLayout
    public init(pool: RedisPool, layout: KeyLayout) {
        self.pool = pool
        self.layout = layout
    }

    /// Tickets a call sets at most (the script's arguments stay bounded).
    public static let ticketsPerCall = 500

    /// KEYS: [1] the shard's hot index directory, then the n ticket keys, then the bucket
    /// keys. ARGV: n, then per ticket its id, the value read, its score (the hour of that
    /// value's updated_at) and its bucket key's index in KEYS. `XX`: a ticket the compactor
    /// removed meanwhile is not put back. Each bucket's directory score is set again (a
    /// raised score may have been its least). Reply: how many scores changed.
    static let script = """
    \(HotIndex.refreshBucketFunction)
    local n = tonumber(ARGV[1])
    local cur = redis.call('MGET', unpack(KEYS, 2, 1 + n))
    local changed = 0
    for i = 1, n do
      local p = 4 * i - 2
      if cur[i] == ARGV[p + 1] then
        changed = changed + redis.call('ZADD', KEYS[tonumber(ARGV[p + 3])], 'XX', 'CH', ARGV[p + 2], ARGV[p])
      end
    end
    for k = 2 + n, #KEYS do refreshBucket(KEYS[1], KEYS[k]) end
    return changed
    """

    /// The score a stored ticket should have: the hour of its updated_at; nil when updated_at
    /// is not an integer (such a ticket keeps the score its writers gave it).
    public static func score(of flat: FlatTicket) -> Int64? {
        guard case .integer(let ms) = flat.values[updatedColumn] else { return nil }
        return KeyLayout.hotIndexScore(updatedAtMs: ms)
    }
    public static let updatedColumn = Tables.tickets.index(of: "updated_at")!

    /// Sets the score of each ticket of `shard` still equal to `value` to `score`. Returns
    /// how many scores changed (a score already right is not counted).
    @discardableResult
    public func rescore(shard: Int, _ tickets: [(id: Int64, value: [UInt8], score: Int64)]) throws -> Int {
        var changed = 0
        var start = 0
        while start < tickets.count {
            let part = tickets[start..<min(start + Self.ticketsPerCall, tickets.count)]
            start += part.count
            let buckets = layout.hotIndexBucketKeys(shard: shard, ids: part.map(\.id))
            let firstBucket = 2 + part.count
            var command: [[UInt8]] = [Array("EVAL".utf8), Array(Self.script.utf8), Array(String(1 + part.count + buckets.keys.count).utf8),
                                      Array(layout.hotIndexDirectory(shard).utf8)]
            command.reserveCapacity(5 + 5 * part.count + buckets.keys.count)
            command += part.map { Array(layout.ticket($0.id).utf8) }
            command += buckets.keys
            command.append(Array(String(part.count).utf8))
            for (t, position) in zip(part, buckets.positions) {
                command.append(Array(String(t.id).utf8))
                command.append(t.value)
                command.append(Array(String(t.score).utf8))
                command.append(Array(String(firstBucket + position).utf8))
            }
            let reply = try pool.pipelineBlocking([command])[0]
            if case .error(let m) = reply { throw RedisError.server(command: "EVAL (hot index rescore)", message: m) }
            guard let n = reply.int else { throw RedisError.protocolError("the hot index rescore script answered \(reply)") }
            changed += Int(n)
        }
        return changed
    }

    /// The earliest hour any hot ticket's updated_at may be in (nil: no hot ticket), for the
    /// compaction lag. Per shard, the first ticket of each of the `sample` buckets of least
    /// score is read (`HotIndex.earliest`), the scores among them that are behind are raised,
    /// and the earliest of their hours (and of the next bucket's least score, a bound for the
    /// rest) is the answer. Exact when the tickets read are not behind (every other ticket of
    /// their buckets has a score, so an hour, no earlier than theirs, and the buckets after
    /// them scores no earlier than the bound); otherwise earlier than the truth, and exact
    /// after as many calls as it takes to raise what is behind.
    public func oldestHour(sample: Int = 16) throws -> Int64? {
        precondition(sample > 0)
        let shards = Array(0..<layout.shards)
        let sampled = try HotIndex(pool: pool, layout: layout).earliest(shards: shards, buckets: sample)
        // The sampled tickets of every shard, one MGET per shard, in one round trip.
        let reads = sampled.filter { !$0.entries.isEmpty }.map { [Array("MGET".utf8)] + $0.entries.map { Array(layout.ticket($0.id).utf8) } }
        var values = try (reads.isEmpty ? [] : pool.pipelineBlocking(reads))[...]
        var oldest: Int64? = nil
        for (shard, (entries, bound)) in zip(shards, sampled) {
            guard !entries.isEmpty else { continue }
            var earliest = bound ?? Int64.max
            let reply = values.removeFirst()
            guard let blobs = reply.array, blobs.count == entries.count else { throw RedisError.protocolError("MGET of tickets answered \(reply)") }
            var behind = [(id: Int64, value: [UInt8], score: Int64)]()
            for (entry, blob) in zip(entries, blobs) {
                guard case .bulk(let value) = blob else { continue }  // compacted meanwhile
                let flat = try FlatTicket.parse(value)
                guard let hour = Self.score(of: flat) else { earliest = min(earliest, entry.score); continue }
                // A ticket behind its hour bounds only by its score: the rest of its bucket
                // may be scored (and updated) between the two.
                if hour > entry.score { behind.append((entry.id, value, hour)) }
                earliest = min(earliest, hour > entry.score ? entry.score : hour)
            }
            if !behind.isEmpty { try rescore(shard: shard, behind) }
            if earliest != .max { oldest = min(oldest ?? .max, earliest) }
        }
        return oldest
    }
}
