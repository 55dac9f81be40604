import HotTier
import RedisClient

/// Every line of every shard's change log, oldest first per shard (`XRANGE`, 10,000 entries
/// a round trip): one line per accepted event, whatever the entries they were written in.
public func changeLogLines(_ pool: RedisPool, _ layout: KeyLayout) throws -> [[UInt8]] {
    var out = [[UInt8]]()
    for shard in 0..<layout.shards {
        var start = "-"
        while true {
            let r = try pool.pipelineBlocking([["XRANGE", layout.changeLog(shard), start, "+", "COUNT", "10000"].map { Array($0.utf8) }])[0]
            guard case .array(let entries) = r else { throw RedisError.protocolError("XRANGE returned \(r)") }
            for e in entries {
                guard let pair = e.array, pair.count == 2, let id = pair[0].string, let kv = pair[1].array, kv.count == 2,
                      case .bulk(let text) = kv[1] else { throw RedisError.protocolError("change-log entry \(e)") }
                out += ChangeLogEntry.lines(text).map { Array($0) }
                start = "(" + id
            }
            if entries.count < 10000 { break }
        }
    }
    return out
}

/// How many events the change logs hold (their lines).
public func changeLogEventCount(_ pool: RedisPool, _ layout: KeyLayout) throws -> Int {
    try changeLogLines(pool, layout).count
}
