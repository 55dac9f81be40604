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

    /// KEYS: [1] the shard's hot index, then the n ticket keys. ARGV: per ticket its id, the
    /// value read, and its score (the hour of that value's updated_at). `XX`: a ticket the
    /// compactor removed meanwhile is not put back. Reply: how many scores changed.
    static let script = """
    local cur = redis.call('MGET', unpack(KEYS, 2, #KEYS))
    local changed = 0
    for i = 1, #KEYS - 1 do
      if cur[i] == ARGV[3 * i - 1] then
        changed = changed + redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[3 * i], ARGV[3 * i - 2])
      end
    end
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
            var command: [[UInt8]] = [Array("EVAL".utf8), Array(Self.script.utf8), Array(String(1 + part.count).utf8),
                                      Array(layout.hotIndex(shard).utf8)]
            command.reserveCapacity(4 + 4 * part.count)
            for t in part {
                precondition(layout.shard(of: t.id) == shard, "ticket \(t.id) is not of shard \(shard)")
                command.append(Array(layout.ticket(t.id).utf8))
            }
            for t in part {
                command.append(Array(String(t.id).utf8))
                command.append(t.value)
                command.append(Array(String(t.score).utf8))
            }
            let reply = try pool.pipelineBlocking([command])[0]
            if case .error(let m) = reply { throw RedisError.server(command: "EVAL (hot index rescore)", message: m) }
            guard let n = reply.int else { throw RedisError.protocolError("the hot index rescore script answered \(reply)") }
            changed += Int(n)
        }
        return changed
    }

    /// The earliest hour any hot ticket's updated_at may be in (nil: no hot ticket), for the
    /// compaction lag: the first `sample` tickets of each shard's index are read, the scores
    /// among them that are behind are raised, and the earliest of their hours (and of the
    /// score after them, a bound for the rest) is the answer. Exact when the tickets read
    /// are not behind; otherwise earlier than the truth, and exact after as many calls as
    /// it takes to raise what is behind, `sample` tickets a shard at a time.
    public func oldestHour(sample: Int = 16) throws -> Int64? {
        precondition(sample > 0)
        let firsts = try pool.pipelineBlocking((0..<layout.shards).map {
            ["ZRANGE", layout.hotIndex($0), "0", String(sample), "WITHSCORES"].map { Array($0.utf8) }
        })
        var oldest: Int64? = nil
        for (shard, reply) in firsts.enumerated() {
            guard let items = reply.array, items.count % 2 == 0 else { throw RedisError.protocolError("ZRANGE of the hot index answered \(reply)") }
            var entries = [(id: Int64, score: Int64)]()
            for k in stride(from: 0, to: items.count, by: 2) {
                guard let id = items[k].int, let text = items[k + 1].string, let score = Double(text) else {
                    throw RedisError.protocolError("ZRANGE of the hot index answered \(items[k]) \(items[k + 1])")
                }
                entries.append((id, Int64(score)))
            }
            guard !entries.isEmpty else { continue }
            // The entry past the sample bounds every ticket after it.
            var earliest = entries.count > sample ? entries.removeLast().score : Int64.max
            let values = try pool.pipelineBlocking([[Array("MGET".utf8)] + entries.map { Array(layout.ticket($0.id).utf8) }])[0]
            guard let blobs = values.array, blobs.count == entries.count else { throw RedisError.protocolError("MGET of tickets answered \(values)") }
            var behind = [(id: Int64, value: [UInt8], score: Int64)]()
            for (entry, blob) in zip(entries, blobs) {
                guard case .bulk(let value) = blob else { continue }  // compacted meanwhile
                let flat = try FlatTicket.parse(value)
                guard let hour = Self.score(of: flat) else { earliest = min(earliest, entry.score); continue }
                if hour > entry.score { behind.append((entry.id, value, hour)) }
                earliest = min(earliest, hour)
            }
            if !behind.isEmpty { try rescore(shard: shard, behind) }
            if earliest != .max { oldest = min(oldest ?? .max, earliest) }
        }
        return oldest
    }
}
