import HotTier
import Tiering
import RedisClient
import StrataCore
import SystemSupport

/// What the compactor selects in and removes from the hot tier (its reads are `HotTierReads`).
struct HotTierAccess: Sendable {
    let pool: RedisPool
    let layout: KeyLayout
    var reads: HotTierReads { HotTierReads(pool: pool, layout: layout) }
    func blobs(_ ids: [Int64]) throws -> [[UInt8]?] { try reads.blobs(ids) }
    func logEntries(shard: Int, tickets: Set<Int64>) throws -> [HotTierReads.LogEntrySplit] { try reads.logEntries(shard: shard, tickets: tickets) }

    /// Ids of a shard's tickets whose index score is before `cutoffMs`, up to `limit`:
    /// every ticket last updated before it, and some that were not (a score may be earlier).
    func agedTickets(shard: Int, cutoffMs: Int64, limit: Int) throws -> [Int64] {
        try HotIndex(pool: pool, layout: layout).scored(shard: shard, before: cutoffMs, limit: limit)
    }

    /// KEYS: fence, hot index directory, change log, hot index count, then the n ticket keys,
    /// then their hot index bucket keys, then the shard's moved count (`INCR` when a ticket is
    /// deleted: a daemon that merged a ticket it did not read as absent writes only if the
    /// count is what it saw, docs/hot-tier.md, "Tickets not read"). ARGV: token, n, `v` or `d`, then per ticket its id,
    /// what it must still be: its value as selected (`v`), or that value's SHA-1 in hex (`d`:
    /// recovery, from the catalog), and its bucket key's index in KEYS; then the log entry
    /// count and per entry its id and the lines that stay hot (the lines of other tickets,
    /// joined; empty when none): an entry removed here with lines left gets them back as a
    /// new entry, in the same atomic call, so that an entry is removed at most once and its
    /// other tickets' events stay in the log. The tickets are read with one `MGET` (a
    /// command called from Lua costs about a microsecond of its own); each bucket they leave
    /// gets one `ZREM` and its directory score set again, the count one `DECRBY`.
    static let deleteScript = """
    \(HotIndex.refreshBucketFunction)
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED this compaction run no longer holds the lease') end
    local n = tonumber(ARGV[2])
    local byDigest = ARGV[3] == 'd'
    local kept, keys, byBucket, buckets = {}, {}, {}, {}
    local current = n > 0 and redis.call('MGET', unpack(KEYS, 5, 4 + n)) or {}
    for i = 1, n do
      local v, expected = current[i], ARGV[2 + 3 * i]
      if v and ((not byDigest and v == expected) or (byDigest and redis.sha1hex(v) == expected)) then
        keys[#keys + 1] = KEYS[4 + i]
        local b = tonumber(ARGV[3 + 3 * i])
        if not byBucket[b] then byBucket[b] = {}; buckets[#buckets + 1] = b end
        local list = byBucket[b]
        list[#list + 1] = ARGV[1 + 3 * i]
      else
        kept[#kept + 1] = i
      end
    end
    -- One DEL for all of them (the caller sends at most 500 tickets per call), one ZREM a bucket.
    if #keys > 0 then
      redis.call('DEL', unpack(keys))
      local removed = 0
      for _, b in ipairs(buckets) do
        removed = removed + redis.call('ZREM', KEYS[b], unpack(byBucket[b]))
        refreshBucket(KEYS[2], KEYS[b])
      end
      if removed > 0 then redis.call('DECRBY', KEYS[4], removed) end
      redis.call('INCR', KEYS[#KEYS])
    end
    local base = 4 + 3 * n
    local ne = tonumber(ARGV[base])
    local whole = {}
    for k = 1, ne do
      local id, rest = ARGV[base + 2 * k - 1], ARGV[base + 2 * k]
      if #rest == 0 then
        whole[#whole + 1] = id
      elseif redis.call('XDEL', KEYS[3], id) == 1 then
        redis.call('XADD', KEYS[3], '*', 'e', rest)
      end
    end
    for j = 1, #whole, 500 do  -- in slices: Lua's unpack has a limit of a few thousand values
      redis.call('XDEL', KEYS[3], unpack(whole, j, math.min(#whole, j + 499)))
    end
    return kept
    """

    /// One call of the delete script: a shard's tickets (with their snapshot's SHA-1) and log entries.
    struct DeleteCall: Sendable {
        var shard: Int
        var fenceKey: String
        /// Each ticket with its value as selected, or (`byDigest`) that value's SHA-1.
        var items: [(ticket: Int64, expected: [UInt8])]
        var byDigest = false
        /// Entry ids, each with its lines that stay hot (empty: the whole entry moved).
        var logEntries: [(id: String, rest: [UInt8])]
    }

    /// Deletes each ticket only if its value is still the snapshot (compare-and-delete, by
    /// value or by SHA-1), and the moved log entries; refused unless the shard's fence still holds the
    /// run's token. Calls are pipelined. Returns the tickets kept because they changed meanwhile.
    func compareAndDelete(_ calls: [DeleteCall], token: String) throws -> [Int64] {
        let sha = SHA1.hex(SHA1.digest(Array(Self.deleteScript.utf8)))
        let layout = self.layout
        @Sendable func command(_ c: DeleteCall, eval: Bool) -> RESPCommand {
            let buckets = layout.hotIndexBucketKeys(shard: c.shard, ids: c.items.map(\.ticket))
            let firstBucket = 5 + c.items.count
            let keys = 5 + c.items.count + buckets.keys.count
            var bytes = 64 * keys
            for item in c.items { bytes += c.byDigest ? 40 : item.expected.count }
            for e in c.logEntries { bytes += e.rest.count + 24 }
            // Built straight into its bytes: a call carries 500 values, an array each was
            // a tenth of the compactor's time.
            var b = RESPCommand.Builder(arguments: 3 + keys + 3 + 3 * c.items.count + 1 + 2 * c.logEntries.count, capacity: bytes)
            b.append(eval ? "EVAL" : "EVALSHA")
            b.append(eval ? Self.deleteScript : sha)
            b.append(decimal: Int64(keys))
            let fence = Array(c.fenceKey.utf8)
            b.append(fence)
            b.append(layout.hotIndexDirectory(c.shard))
            b.append(layout.changeLog(c.shard))
            b.append(layout.hotIndexCount(c.shard))
            let ticketKey = Array(layout.ticketKeyPrefix(c.shard).utf8)  // a ticket's key: this, then its id
            for item in c.items { b.append(ticketKey, decimal: item.ticket) }
            for key in buckets.keys { b.append(key) }
            b.append(layout.movedCount(c.shard))
            b.append(token)
            b.append(decimal: Int64(c.items.count))
            b.append(c.byDigest ? "d" : "v")
            for (item, position) in zip(c.items, buckets.positions) {
                b.append(decimal: item.ticket)
                if c.byDigest { b.append(SHA1.hex(item.expected)) } else { b.append(item.expected) }
                b.append(decimal: Int64(firstBucket + position))
            }
            b.append(decimal: Int64(c.logEntries.count))
            for e in c.logEntries {
                b.append(e.id)
                b.append(e.rest)
            }
            return b.command(name: eval ? "EVAL" : "EVALSHA", key: fence)
        }
        // Groups of calls on two connections: one builds and parses while Redis runs the other's.
        let groups = stride(from: 0, to: calls.count, by: 8).map { Array(calls[$0..<min($0 + 8, calls.count)]) }
        let pool = self.pool
        return try parallelMap(groups) { group -> [Int64] in
            var replies = try pool.pipelineBlocking(group.map { command($0, eval: false) })
            if replies.contains(where: { if case .error(let m) = $0 { return m.hasPrefix("NOSCRIPT") } else { return false } }) {
                replies = try pool.pipelineBlocking(group.map { command($0, eval: true) })  // EVAL caches the script
            }
            var kept = [Int64]()
            for (c, r) in zip(group, replies) {
                switch r {
                case .array(let k): kept += k.compactMap { $0.int }.map { c.items[Int($0) - 1].ticket }
                case .error(let m) where m.hasPrefix("FENCED"): throw CompactionError.fenced(m)
                case .error(let m): throw RedisError.server(command: "EVALSHA (compare-and-delete)", message: m)
                default: throw RedisError.protocolError("compare-and-delete returned \(r)")
                }
            }
            return kept
        }.flatMap { $0 }
    }

    /// One call (tests).
    func compareAndDelete(shard: Int, fenceKey: String, token: String, items: [(ticket: Int64, expected: [UInt8])], byDigest: Bool = false,
                          logEntries: [(id: String, rest: [UInt8])]) throws -> [Int64] {
        try compareAndDelete([DeleteCall(shard: shard, fenceKey: fenceKey, items: items, byDigest: byDigest, logEntries: logEntries)], token: token)
    }
}

public enum CompactionError: Error, CustomStringConvertible {
    /// Another runner holds the lease.
    case busy(String)
    /// This runner lost its lease; it must not commit.
    case fenced(String)
    case corrupt(String)

    public var description: String {
        switch self {
        case .busy(let m): return "another compaction is running: \(m)"
        case .fenced(let m): return "lease lost, run stopped before committing: \(m)"
        case .corrupt(let m): return m
        }
    }
}
