import HotTier
import RedisClient
import StrataCore

/// What the compactor reads from and removes from the hot tier.
struct HotTierAccess {
    let pool: RedisPool
    let layout: KeyLayout

    /// Ids of a shard's tickets last updated before `cutoffMs`, oldest first.
    func agedTickets(shard: Int, cutoffMs: Int64, limit: Int) throws -> [Int64] {
        let r = try pool.pipelineBlocking([["ZRANGEBYSCORE", layout.hotIndex(shard), "-inf", "(\(cutoffMs)", "LIMIT", "0", "\(limit)"].map { Array($0.utf8) }])[0]
        guard case .array(let items) = r else { throw RedisError.protocolError("ZRANGEBYSCORE returned \(r)") }
        return items.compactMap { $0.int }
    }

    /// The exact stored value of each ticket (nil when gone).
    func blobs(_ ids: [Int64]) throws -> [[UInt8]?] {
        guard !ids.isEmpty else { return [] }
        return try pool.pipelineBlocking(ids.map { [Array("GET".utf8), Array(layout.ticket($0).utf8)] }).map {
            if case .bulk(let b) = $0 { return b }
            return nil
        }
    }

    /// Change-log entries of a shard that belong to the given tickets: (stream id, entry).
    func logEntries(shard: Int, tickets: Set<Int64>) throws -> [(id: String, text: String)] {
        var out = [(id: String, text: String)]()
        var start = "-"
        while true {
            let r = try pool.pipelineBlocking([["XRANGE", layout.changeLog(shard), start, "+", "COUNT", "10000"].map { Array($0.utf8) }])[0]
            guard case .array(let entries) = r else { throw RedisError.protocolError("XRANGE returned \(r)") }
            if entries.isEmpty { break }
            var last = ""
            for e in entries {
                guard let pair = e.array, pair.count == 2, let id = pair[0].string, let fields = pair[1].array, fields.count >= 2,
                      let text = fields[1].string else { continue }
                last = id
                let ticket = Int64(text.prefix { $0 != "|" }) ?? -1
                if tickets.contains(ticket) { out.append((id, text)) }
            }
            if entries.count < 10000 { break }
            start = "(" + last
        }
        return out
    }

    static let deleteScript = """
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED this compaction run no longer holds the lease') end
    local n = tonumber(ARGV[2])
    local kept = {}
    for i = 1, n do
      local key = KEYS[3 + i]
      if redis.call('GET', key) == ARGV[2 + i] then
        redis.call('DEL', key)
        redis.call('ZREM', KEYS[2], string.match(key, ':t:(.*)$'))
      else
        kept[#kept + 1] = i
      end
    end
    local ne = tonumber(ARGV[3 + n])
    local j = 1
    while j <= ne do  -- in slices: Lua's unpack has a limit of a few thousand values
      local ids = {}
      for k = j, math.min(ne, j + 499) do ids[#ids + 1] = ARGV[3 + n + k] end
      redis.call('XDEL', KEYS[3], unpack(ids))
      j = j + 500
    end
    return kept
    """

    static func deleteScriptSHA(_ pool: RedisPool) throws -> String {
        let r = try pool.pipelineBlocking([["SCRIPT", "LOAD", deleteScript].map { Array($0.utf8) }])[0]
        guard let sha = r.string else { throw RedisError.protocolError("SCRIPT LOAD returned \(r)") }
        return sha
    }

    /// Deletes each ticket only if its value is still the snapshot (compare-and-delete),
    /// and the moved log entries; refused unless `fence` still holds the run's token.
    /// Returns the tickets kept because they changed meanwhile.
    func compareAndDelete(shard: Int, fenceKey: String, token: String, items: [(ticket: Int64, blob: [UInt8])],
                          logEntries: [String]) throws -> [Int64] {
        let sha = try Self.deleteScriptSHA(pool)
        var cmd: [[UInt8]] = ["EVALSHA", sha, String(3 + items.count), fenceKey, layout.hotIndex(shard), layout.changeLog(shard)].map { Array($0.utf8) }
        cmd += items.map { Array(layout.ticket($0.ticket).utf8) }
        cmd += [Array(token.utf8), Array(String(items.count).utf8)]
        cmd += items.map(\.blob)
        cmd.append(Array(String(logEntries.count).utf8))
        cmd += logEntries.map { Array($0.utf8) }
        var r = try pool.pipelineBlocking([cmd])[0]
        if case .error(let m) = r, m.hasPrefix("NOSCRIPT") {
            cmd[0] = Array("EVAL".utf8)
            cmd[1] = Array(Self.deleteScript.utf8)
            r = try pool.pipelineBlocking([cmd])[0]
        }
        switch r {
        case .array(let kept): return kept.compactMap { $0.int }.map { items[Int($0) - 1].ticket }
        case .error(let m) where m.hasPrefix("FENCED"): throw CompactionError.fenced(m)
        case .error(let m): throw RedisError.server(command: "EVALSHA (compare-and-delete)", message: m)
        default: throw RedisError.protocolError("compare-and-delete returned \(r)")
        }
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
