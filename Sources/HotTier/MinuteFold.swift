import StrataCore
import RedisClient

/// Moves a finished minute's counters into its hour: RedisTimeSeries's compaction rule,
/// which aggregates a bucket into the coarser series when the bucket closes. An event
/// counts in its minute only (one `HINCRBY` per counter and shard batch, not two); the fold
/// adds the minute's counts to the hour once, atomically, and only then gives the minute
/// key its retention. An event that comes for a minute already folded counts in the minute
/// and in its hour (the write scripts check `minuteFolded`), and readers of hours add the
/// minutes still open (`MetricsSnapshot`), so an hour's count is always exact.
///
/// The daemon folds every few seconds (`strata serve`), and a compaction run folds before
/// it moves hours, so a minute stays open for about a minute after it ends. Any number of
/// folders may run at once: a minute is folded by the one whose `ZREM` removes it from the
/// open minutes.
public enum MinuteFold {
    /// KEYS: [1] open minutes, [2] hour index, then per minute its key and its hour's key.
    /// ARGV: [1] minute retention s (after the minute ends), then the minutes. Reply: how
    /// many were folded here. An hour key the fold makes joins the hour index; it has no TTL
    /// (it stays until the compactor moves it, docs/hot-tier.md).
    static let source = """
    local minuteTTL = tonumber(ARGV[1])
    local folded = 0
    for i = 2, #ARGV do
      local minute = ARGV[i]
      if redis.call('ZREM', KEYS[1], minute) == 1 then
        local mk, hk = KEYS[2 * (i - 1) + 1], KEYS[2 * (i - 1) + 2]
        local kv = redis.call('HGETALL', mk)
        local fresh = false
        for j = 1, #kv, 2 do
          if redis.call('HINCRBY', hk, kv[j], kv[j + 1]) == tonumber(kv[j + 1]) then fresh = true end
        end
        if fresh then
          local hour = string.match(hk, ':h:(%-?%d+)$')
          redis.call('ZADD', KEYS[2], hour, hour)
        end
        redis.call('EXPIREAT', mk, (tonumber(minute) + 1) * 60 + minuteTTL)
        folded = folded + 1
      end
    end
    return folded
    """

    /// Minutes folded per script call (each one `HGETALL` and an `HINCRBY` per counter).
    static let minutesPerCall = 64

    /// Folds every open minute before `minute` (ms / 60,000) of every shard; returns how
    /// many this call folded.
    @discardableResult
    public static func run(pool: RedisPool, options: HotTierOptions, before minute: Int64) throws -> Int {
        let layout = options.layout
        var folded = 0
        var shards = Array(0..<layout.shards)
        for _ in 0..<10_000 where !shards.isEmpty {
            let open = try pool.pipelineBlocking(shards.map { s in
                ["ZRANGEBYSCORE", layout.openMinutes(s), "-inf", "(\(minute)", "LIMIT", "0", "\(minutesPerCall)"].map { Array($0.utf8) }
            })
            var calls = [[[UInt8]]](), callShards = [Int]()
            for (s, reply) in zip(shards, open) {
                guard case .array(let items) = reply else { throw RedisError.protocolError("ZRANGEBYSCORE of the open minutes answered \(reply)") }
                let minutes = try items.map { item -> Int64 in
                    guard let m = item.int else { throw CorruptHotData("an open minute of shard \(s) (\(layout.openMinutes(s))) is not a number: \(item)") }
                    return m
                }
                guard !minutes.isEmpty else { continue }
                var keys = [layout.openMinutes(s), layout.hourIndex(s)]
                for m in minutes { keys += [layout.minuteMetrics(s, minute: m), layout.hourMetrics(s, hour: floorDiv(m, 60))] }
                let args = [String(options.minuteRetentionSeconds)] + minutes.map(String.init)
                calls.append((["EVAL", source, String(keys.count)] + keys + args).map { Array($0.utf8) })
                callShards.append(s)
            }
            guard !calls.isEmpty else { break }
            for reply in try pool.pipelineBlocking(calls) {
                if case .error(let m) = reply { throw RedisError.server(command: "EVAL (minute fold)", message: m) }
                folded += Int(reply.int ?? 0)
            }
            shards = callShards
        }
        return folded
    }
}
