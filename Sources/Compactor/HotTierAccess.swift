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
    /// The tickets among `ids` that Redis holds.
    func present(_ ids: [Int64]) throws -> [Int64] { zip(ids, try blobs(ids)).filter { $0.1 != nil }.map(\.0) }
    func logEntries(shard: Int, tickets: Set<Int64>) throws -> [HotTierReads.LogEntrySplit] { try reads.logEntries(shard: shard, tickets: tickets) }

    /// Sets each shard's sentinel (`KeyLayout.compactionDeleted`) to `run`, once every delete
    /// call of the run on it replied.
    func setDeleted(run: Int64, shards: [Int]) throws {
        let replies = try pool.pipelineBlocking(shards.map { ["SET", layout.compactionDeleted($0), String(run)].map { Array($0.utf8) } })
        for r in replies { if case .error(let m) = r { throw RedisError.server(command: "SET (compaction sentinel)", message: m) } }
    }

    /// Each shard's sentinel: the last run whose deletes on it all completed (nil: none).
    func deleted(shards: [Int]) throws -> [Int: Int64] {
        let replies = try pool.pipelineBlocking(shards.map { ["GET", layout.compactionDeleted($0)].map { Array($0.utf8) } })
        var out = [Int: Int64]()
        for (shard, r) in zip(shards, replies) {
            switch r {
            case .null: continue
            case .error(let m): throw RedisError.server(command: "GET (compaction sentinel)", message: m)
            default:
                guard let run = r.int else { throw RedisError.protocolError("\(layout.compactionDeleted(shard)) holds \(r), not a run id") }
                out[shard] = run
            }
        }
        return out
    }

    /// Adds tickets to their shard's reopened set (`KeyLayout.reopened`).
    func addReopened(_ ids: [(shard: Int, id: Int64)]) throws {
        let commands = Dictionary(grouping: ids, by: \.shard).sorted { $0.key < $1.key }.map { shard, group in
            (["SADD", layout.reopened(shard)] + group.map { String($0.id) }).map { Array($0.utf8) }
        }
        for r in try pool.pipelineBlocking(commands) { if case .error(let m) = r { throw RedisError.server(command: "SADD (reopened set)", message: m) } }
    }

    /// The shard's reopened set (`KeyLayout.reopened`): tickets restored from the cold tier
    /// and not moved back since.
    func reopened(shard: Int) throws -> Set<Int64> {
        let reply = try pool.pipelineBlocking([["SMEMBERS", layout.reopened(shard)].map { Array($0.utf8) }])[0]
        guard case .array(let members) = reply else { throw RedisError.protocolError("SMEMBERS \(layout.reopened(shard)) answered \(reply)") }
        return Set(try members.map { m in
            guard let s = m.string, let id = Int64(s) else { throw RedisError.protocolError("\(layout.reopened(shard)) holds \(m), not a ticket id") }
            return id
        })
    }

    /// Ids of a shard's tickets whose index score is before `cutoffMs`, up to `limit`:
    /// every ticket last updated before it, and some that were not (a score may be earlier).
    func agedTickets(shard: Int, cutoffMs: Int64, limit: Int) throws -> [Int64] {
        try HotIndex(pool: pool, layout: layout).scored(shard: shard, before: cutoffMs, limit: limit)
    }

    /// The change log's last generated id, in a script (`0-0` while the stream does not exist;
    /// XADD makes each id greater than every earlier one, XDEL and trimming leave it).
    static let lastGeneratedFunction = """
    local function lastGenerated(log)
      if redis.call('EXISTS', log) == 0 then return '0-0' end
      local info = redis.call('XINFO', 'STREAM', log)
      for i = 1, #info, 2 do
        if info[i] == 'last-generated-id' then return info[i + 1] end
      end
      error('XINFO STREAM answered no last-generated-id')
    end
    """

    /// KEYS: fence, change log, compaction mark. ARGV: token, nonce, seconds the mark lives.
    /// Sets the mark to `nonce|last generated id` (docs/tiering.md, "Deleting on a mark").
    static let markScript = """
    \(lastGeneratedFunction)
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED this compaction run no longer holds the lease') end
    redis.call('SET', KEYS[3], ARGV[2] .. '|' .. lastGenerated(KEYS[2]), 'EX', ARGV[3])
    return 1
    """

    /// Marks `shard` for a migration that reads its tickets next (`nonce`: the migration's).
    /// The reply comes back before the caller's reads are sent, so they see at least what
    /// the mark saw.
    func mark(shard: Int, fenceKey: String, token: String, nonce: String) throws {
        let reply = try pool.pipelineBlocking([["EVAL", Self.markScript, "3", fenceKey, layout.changeLog(shard), layout.compactionMark(shard),
                                                token, nonce, String(Self.markSeconds)].map { Array($0.utf8) }])[0]
        switch reply {
        case .integer(1): return
        case .error(let m) where m.hasPrefix("FENCED"): throw CompactionError.fenced(m)
        case .error(let m): throw RedisError.server(command: "EVAL (compaction mark)", message: m)
        default: throw RedisError.protocolError("the compaction mark script answered \(reply)")
        }
    }

    /// How long a mark lives: past it, a migration still running compares values.
    static let markSeconds = 86_400

    /// KEYS: fence, hot index directory, change log, hot index count, the compaction mark,
    /// then the n ticket keys, grouped by hot index bucket, then those bucket keys, then the
    /// shard's reopened set (`KeyLayout.reopened`: a ticket deleted leaves it, in this call),
    /// then the moved count (`INCR` when a ticket is deleted: a daemon that merged a ticket it
    /// did not read as absent writes only if the count is what it saw, docs/hot-tier.md,
    /// "Tickets not read").
    /// ARGV: token, n, the mode, the migration's nonce (empty: none), nb, then per bucket its
    /// key's index in KEYS, c, and its c tickets, in KEYS order: each its id and, unless on
    /// the mark, what it must still be; then the log entry count and per entry its id and the
    /// lines that stay hot (the lines of other tickets, joined; empty when none): an entry
    /// removed here with lines left gets them back as a new entry, in the same atomic call,
    /// so that an entry is removed at most once and its other tickets' events stay in the log.
    /// Modes: `m`, on the mark: the tickets are deleted without a compare if the mark is
    /// `nonce|the log's last generated id` (nothing changed them since the migration read
    /// them), else the call answers `STALE` and changes nothing; `v`, each ticket's value as
    /// selected, compared; `d`, that value's SHA-1 in hex (recovery, from the catalog).
    /// On the mark, `DEL` and each bucket's `ZREM` take their arguments straight from KEYS
    /// and ARGV (no Lua work per ticket: 1.41 → 1.04 µs of Redis a ticket,
    /// `Benchmarks/DeleteShapes`); comparing, the tickets are read with one `MGET` (a command
    /// called from Lua costs about a microsecond of its own). Each bucket left gets its
    /// directory score set again, the count one `DECRBY`. A call on the mark that adds entries
    /// back moves the mark to the last of them, so that the migration's next call on the
    /// shard finds it. Reply: the ids of the tickets not deleted (changed, or already gone).
    static let deleteScript = """
    \(HotIndex.refreshBucketFunction)
    \(lastGeneratedFunction)
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED this compaction run no longer holds the lease') end
    local n, mode, nonce = tonumber(ARGV[2]), ARGV[3], ARGV[4]
    local marked = #nonce > 0 and redis.call('GET', KEYS[5]) == nonce .. '|' .. lastGenerated(KEYS[3])
    if mode == 'm' and not marked then return redis.error_reply('STALE the shard changed since its tickets were read') end
    -- Tickets restored from the cold tier and moved back leave the reopened set with their delete.
    local reopened = redis.call('EXISTS', KEYS[#KEYS - 1]) == 1
    local kept, removed, deleted, p = {}, 0, 0, 6
    local function leave(k, ids, from, to)
      removed = removed + redis.call('ZREM', KEYS[k], unpack(ids, from, to))
      if reopened then redis.call('SREM', KEYS[#KEYS - 1], unpack(ids, from, to)) end
      refreshBucket(KEYS[2], KEYS[k])
    end
    if mode == 'm' then
      -- Every ticket goes: the commands take their arguments as they came.
      for j = 6, 5 + n, 500 do redis.call('DEL', unpack(KEYS, j, math.min(5 + n, j + 499))) end
      deleted = n
      for b = 1, tonumber(ARGV[5]) do
        local k, c = tonumber(ARGV[p]), tonumber(ARGV[p + 1])
        if c > 0 then leave(k, ARGV, p + 2, p + 1 + c) end
        p = p + 2 + c
      end
    else
      local current = n > 0 and redis.call('MGET', unpack(KEYS, 6, 5 + n)) or {}
      local keys, i = {}, 0
      for b = 1, tonumber(ARGV[5]) do
        local k, c = tonumber(ARGV[p]), tonumber(ARGV[p + 1])
        local gone = {}
        for q = 0, c - 1 do
          i = i + 1
          local id, expected, v = ARGV[p + 2 + 2 * q], ARGV[p + 3 + 2 * q], current[i]
          if v and ((mode == 'v' and v == expected) or (mode == 'd' and redis.sha1hex(v) == expected)) then
            keys[#keys + 1] = KEYS[5 + i]
            gone[#gone + 1] = id
          else
            kept[#kept + 1] = id
          end
        end
        if #gone > 0 then leave(k, gone, 1, #gone) end
        p = p + 2 + 2 * c
      end
      -- One DEL for all of them (the caller sends at most 500 tickets per call).
      if #keys > 0 then redis.call('DEL', unpack(keys)) end
      deleted = #keys
    end
    if removed > 0 then redis.call('DECRBY', KEYS[4], removed) end
    if deleted > 0 then redis.call('INCR', KEYS[#KEYS]) end
    local ne = tonumber(ARGV[p])
    local whole, added = {}, nil
    for k = 1, ne do
      local id, rest = ARGV[p + 2 * k - 1], ARGV[p + 2 * k]
      if #rest == 0 then
        whole[#whole + 1] = id
      elseif redis.call('XDEL', KEYS[3], id) == 1 then
        added = redis.call('XADD', KEYS[3], '*', 'e', rest)
      end
    end
    for j = 1, #whole, 500 do  -- in slices: Lua's unpack has a limit of a few thousand values
      redis.call('XDEL', KEYS[3], unpack(whole, j, math.min(#whole, j + 499)))
    end
    if marked and added then redis.call('SET', KEYS[5], nonce .. '|' .. added, 'KEEPTTL') end
    return kept
    """

    /// How a delete call knows that a ticket is still what the migration moved.
    enum DeleteMode: String, Sendable {
        /// The shard's compaction mark still holds: nothing changed; no values sent.
        case mark = "m"
        /// Each value as selected, compared.
        case value = "v"
        /// Each value's SHA-1 (recovery, from the catalog), compared.
        case digest = "d"
    }

    /// One call of the delete script: a shard's tickets (with their snapshot's SHA-1) and log entries.
    struct DeleteCall: Sendable {
        var shard: Int
        var fenceKey: String
        /// Each ticket with its value as selected, or (`.digest`) that value's SHA-1.
        var items: [(ticket: Int64, expected: [UInt8])]
        var mode = DeleteMode.value
        /// The migration's nonce (its compaction marks'); empty: none (recovery).
        var nonce = ""
        /// Entry ids, each with its lines that stay hot (empty: the whole entry moved).
        var logEntries: [(id: String, rest: [UInt8])]
    }

    /// Deletes each ticket only if it is still the snapshot (on the shard's mark, or by
    /// comparing its value or SHA-1), and the moved log entries; refused unless the shard's
    /// fence still holds the run's token. Calls are pipelined; a call on the mark that finds
    /// it moved is sent again comparing values. Returns the tickets kept because they
    /// changed meanwhile, and how many calls were sent again comparing values.
    func compareAndDelete(_ calls: [DeleteCall], token: String) throws -> (kept: [Int64], compared: Int) {
        let sha = SHA1.hex(SHA1.digest(Array(Self.deleteScript.utf8)))
        let layout = self.layout
        @Sendable func command(_ c: DeleteCall, eval: Bool) -> RESPCommand {
            let buckets = layout.hotIndexBucketKeys(shard: c.shard, ids: c.items.map(\.ticket))
            // The tickets grouped by bucket (stable): each bucket's ids are one run of ARGV.
            let order = c.items.indices.sorted { (buckets.positions[$0], $0) < (buckets.positions[$1], $1) }
            var counts = [Int](repeating: 0, count: buckets.keys.count)
            for p in buckets.positions { counts[p] += 1 }
            let firstBucket = 6 + c.items.count
            let keys = 7 + c.items.count + buckets.keys.count
            var bytes = 64 * keys + c.nonce.utf8.count
            for item in c.items { bytes += c.mode == .value ? item.expected.count : c.mode == .digest ? 40 : 0 }
            for e in c.logEntries { bytes += e.rest.count + 24 }
            // Built straight into its bytes: a call carries 500 values, an array each was
            // a tenth of the compactor's time.
            let perTicket = c.mode == .mark ? 1 : 2
            var b = RESPCommand.Builder(arguments: 3 + keys + 5 + 2 * buckets.keys.count + perTicket * c.items.count + 1 + 2 * c.logEntries.count,
                                        capacity: bytes)
            b.append(eval ? "EVAL" : "EVALSHA")
            b.append(eval ? Self.deleteScript : sha)
            b.append(decimal: Int64(keys))
            let fence = Array(c.fenceKey.utf8)
            b.append(fence)
            b.append(layout.hotIndexDirectory(c.shard))
            b.append(layout.changeLog(c.shard))
            b.append(layout.hotIndexCount(c.shard))
            b.append(layout.compactionMark(c.shard))
            let ticketKey = Array(layout.ticketKeyPrefix(c.shard).utf8)  // a ticket's key: this, then its id
            for k in order { b.append(ticketKey, decimal: c.items[k].ticket) }
            for key in buckets.keys { b.append(key) }
            b.append(layout.reopened(c.shard))
            b.append(layout.movedCount(c.shard))
            b.append(token)
            b.append(decimal: Int64(c.items.count))
            b.append(c.mode.rawValue)
            b.append(c.nonce)
            b.append(decimal: Int64(buckets.keys.count))
            var next = 0
            for (position, count) in counts.enumerated() {
                b.append(decimal: Int64(firstBucket + position))
                b.append(decimal: Int64(count))
                for k in order[next..<(next + count)] {
                    let item = c.items[k]
                    b.append(decimal: item.ticket)
                    switch c.mode {
                    case .mark: break
                    case .value: b.append(item.expected)
                    case .digest: b.append(SHA1.hex(item.expected))
                    }
                }
                next += count
            }
            b.append(decimal: Int64(c.logEntries.count))
            for e in c.logEntries {
                b.append(e.id)
                b.append(e.rest)
            }
            return b.command(name: eval ? "EVAL" : "EVALSHA", key: fence)
        }
        // Groups of calls on two connections: one builds and parses while Redis runs the other's.
        let pool = self.pool
        func send(_ calls: [DeleteCall]) throws -> (kept: [Int64], stale: [DeleteCall]) {
            let groups = stride(from: 0, to: calls.count, by: 8).map { Array(calls[$0..<min($0 + 8, calls.count)]) }
            let results = try parallelMap(groups) { group -> (kept: [Int64], stale: [DeleteCall]) in
                var replies = try pool.pipelineBlocking(group.map { command($0, eval: false) })
                if replies.contains(where: { if case .error(let m) = $0 { return m.hasPrefix("NOSCRIPT") } else { return false } }) {
                    replies = try pool.pipelineBlocking(group.map { command($0, eval: true) })  // EVAL caches the script
                }
                var kept = [Int64](), stale = [DeleteCall]()
                for (c, r) in zip(group, replies) {
                    switch r {
                    case .array(let k): kept += try k.map { id in
                        guard let id = id.int else { throw RedisError.protocolError("compare-and-delete answered \(id) among the ids it kept") }
                        return id
                    }
                    case .error(let m) where m.hasPrefix("FENCED"): throw CompactionError.fenced(m)
                    case .error(let m) where m.hasPrefix("STALE") && c.mode == .mark:
                        // The shard's mark is gone for good (ids only grow): compared, and
                        // without the nonce, so that the call does not read the mark again.
                        var again = c
                        again.mode = .value
                        again.nonce = ""
                        stale.append(again)
                    case .error(let m): throw RedisError.server(command: "EVALSHA (compare-and-delete)", message: m)
                    default: throw RedisError.protocolError("compare-and-delete returned \(r)")
                    }
                }
                return (kept, stale)
            }
            return (results.flatMap(\.kept), results.flatMap(\.stale))
        }
        let first = try send(calls)
        // Calls that found their shard's mark moved: compared by value, in the same order.
        let second = first.stale.isEmpty ? (kept: [], stale: []) : try send(first.stale)
        precondition(second.stale.isEmpty, "a call comparing values is never stale")
        return (first.kept + second.kept, first.stale.count)
    }

    /// One call (tests).
    func compareAndDelete(shard: Int, fenceKey: String, token: String, items: [(ticket: Int64, expected: [UInt8])], mode: DeleteMode = .value,
                          nonce: String = "", logEntries: [(id: String, rest: [UInt8])]) throws -> [Int64] {
        try compareAndDelete([DeleteCall(shard: shard, fenceKey: fenceKey, items: items, mode: mode, nonce: nonce, logEntries: logEntries)], token: token).kept
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
