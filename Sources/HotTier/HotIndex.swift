import RedisClient
import StrataCore

/// The hot index: which tickets are hot, each scored by an hour no later than that of its
/// updated_at (`KeyLayout.hotIndexScore`), so that the compactor finds the aged ones
/// without reading every ticket (docs/hot-tier.md, "The hot index").
///
/// Per shard it is kept in buckets of `KeyLayout.hotIndexBucketWidth` ids (`st:{7}:ix:<b>`,
/// small sorted sets that Redis keeps as listpacks, about 12 bytes a ticket), a directory
/// (`st:{7}:ixd`: each bucket that holds tickets, scored by the least score in it) and a
/// count (`st:{7}:ixn`). Every script that changes a bucket sets its directory score in the
/// same atomic call: writers only lower scores (`ZADD LT`, the directory too, so it stays the
/// least), the compactor refreshes a bucket it removed from or raised (`refreshBucketFunction`).
/// So the directory's score of a bucket is always exactly its least score.
///
/// These are the reads; the writes are in the scripts (`WriteScript`, `MergeScript`, the
/// compactor's delete script, `HotIndexRescore`).
public struct HotIndex: Sendable {
    public let pool: RedisPool
    public let layout: KeyLayout
    public init(pool: RedisPool, layout: KeyLayout) {
        self.pool = pool
        self.layout = layout
    }

    /// Commands sent in one pipeline at most (a shard of 10M tickets has about 10,000 buckets).
    static let pipelineLimit = 4_096

    /// Lua: sets bucket `bucket`'s directory score (KEYS `dir`) to the least score in `key`,
    /// or removes it from the directory when empty. For scripts that remove from a bucket or
    /// raise a score in it.
    public static let refreshBucketFunction = """
    local function refreshBucket(dir, key)
      local bucket = string.match(key, ':ix:(%-?%d+)$')
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      if first[2] then redis.call('ZADD', dir, first[2], bucket) else redis.call('ZREM', dir, bucket) end
    end
    """

    func run(_ commands: [[[UInt8]]]) throws -> [RESPValue] {
        var replies = [RESPValue]()
        replies.reserveCapacity(commands.count)
        for start in stride(from: 0, to: commands.count, by: Self.pipelineLimit) {
            replies += try pool.pipelineBlocking(Array(commands[start..<min(start + Self.pipelineLimit, commands.count)]))
        }
        for r in replies { if case .error(let m) = r { throw RedisError.server(command: "hot index read", message: m) } }
        return replies
    }

    static func items(_ reply: RESPValue, _ what: String) throws -> [RESPValue] {
        guard let a = reply.array else { throw RedisError.protocolError("\(what) answered \(reply)") }
        return a
    }

    /// The members of a reply, each an integer (a bucket number, a ticket id): anything else
    /// in the index is corrupt, an error, not skipped.
    static func integers(_ reply: RESPValue, _ what: String) throws -> [Int64] {
        try items(reply, what).map {
            guard let n = $0.int else { throw RedisError.protocolError("\(what) answered \($0), not an integer") }
            return n
        }
    }

    /// Pairs of a `WITHSCORES` reply: member as an integer, score as an integer.
    static func scored(_ reply: RESPValue, _ what: String) throws -> [(member: Int64, score: Int64)] {
        let a = try items(reply, what)
        guard a.count % 2 == 0 else { throw RedisError.protocolError("\(what) answered an odd count") }
        var out = [(member: Int64, score: Int64)]()
        out.reserveCapacity(a.count / 2)
        for k in stride(from: 0, to: a.count, by: 2) {
            guard let m = a[k].int, let text = a[k + 1].string, let d = Double(text) else {
                throw RedisError.protocolError("\(what) answered \(a[k]) \(a[k + 1])")
            }
            out.append((m, Int64(d)))
        }
        return out
    }

    /// Each shard's buckets (all of them), in directory order.
    public func buckets(shards: [Int]) throws -> [[Int64]] {
        let replies = try run(shards.map { ["ZRANGE", layout.hotIndexDirectory($0), "0", "-1"].map { Array($0.utf8) } })
        return try replies.map { try Self.integers($0, "ZRANGE of the hot index directory") }
    }

    /// Every id in the hot index of each of `shards`.
    public func ids(shards: [Int]) throws -> [[Int64]] {
        let buckets = try self.buckets(shards: shards)
        var commands = [[[UInt8]]]()
        for (shard, list) in zip(shards, buckets) {
            for b in list { commands.append(["ZRANGE", layout.hotIndexBucket(shard, bucket: b), "0", "-1"].map { Array($0.utf8) }) }
        }
        var replies = try run(commands)[...]
        var out = [[Int64]]()
        for list in buckets {
            var ids = [Int64]()
            for r in replies.prefix(list.count) { ids += try Self.integers(r, "ZRANGE of a hot index bucket") }
            replies = replies.dropFirst(list.count)
            out.append(ids)
        }
        return out
    }

    /// Every hot id, all shards.
    public func allIDs() throws -> [Int64] { try ids(shards: Array(0..<layout.shards)).flatMap { $0 } }

    /// How many tickets the hot index of each shard holds.
    public func counts(shards: [Int]) throws -> [Int] {
        try run(shards.map { [Array("GET".utf8), Array(layout.hotIndexCount($0).utf8)] }).map(Self.count)
    }

    /// A count key's value: absent is 0.
    public static func count(_ reply: RESPValue) throws -> Int {
        if case .null = reply { return 0 }
        guard let n = reply.int, n >= 0 else { throw RedisError.protocolError("a hot index count is \(reply)") }
        return Int(n)
    }

    /// The scores of tickets (nil: not in the index), one `ZMSCORE` per bucket, all in one
    /// round trip.
    public func scores(ids: [Int64]) throws -> [Int64?] {
        var byBucket = [String: [Int]]()
        for (k, id) in ids.enumerated() { byBucket[layout.hotIndexBucketKey(of: id), default: []].append(k) }
        let groups = Array(byBucket)
        let replies = try run(groups.map { key, ks in
            [Array("ZMSCORE".utf8), Array(key.utf8)] + ks.map { Array(String(ids[$0]).utf8) }
        })
        var out = [Int64?](repeating: nil, count: ids.count)
        for ((_, ks), reply) in zip(groups, replies) {
            let items = try Self.items(reply, "ZMSCORE")
            guard items.count == ks.count else { throw RedisError.protocolError("ZMSCORE answered \(items.count) scores for \(ks.count) ids") }
            for (k, item) in zip(ks, items) { if let t = item.string, let d = Double(t) { out[k] = Int64(d) } }
        }
        return out
    }

    /// Up to `limit` ids of `shard` whose score is before `cutoffMs` (every ticket last
    /// updated before it, and some that were not: a score may be earlier). When the shard
    /// holds more than `limit` tickets, the earliest scores first (ties by id), as one
    /// sorted set per shard gave them: buckets are read in directory order until the next
    /// one's least score is past the `limit`-th found. Otherwise all of them, in bucket order.
    public func scored(shard: Int, before cutoffMs: Int64, limit: Int) throws -> [Int64] {
        guard limit > 0 else { return [] }
        let directory = ["ZRANGEBYSCORE", layout.hotIndexDirectory(shard), "-inf", "(\(cutoffMs)"].map { Array($0.utf8) }
        let first = try run([[Array("GET".utf8), Array(layout.hotIndexCount(shard).utf8)], directory])
        if try Self.count(first[0]) <= limit {
            // Every aged ticket fits: their order does not matter, and ids alone are read
            // (a score per ticket is a number Redis formats and this side parses).
            let buckets = try Self.integers(first[1], "ZRANGEBYSCORE of the hot index directory")
            let replies = try run(buckets.map { ["ZRANGEBYSCORE", layout.hotIndexBucket(shard, bucket: $0), "-inf", "(\(cutoffMs)"].map { Array($0.utf8) } })
            return try replies.flatMap { try Self.integers($0, "ZRANGEBYSCORE of a hot index bucket") }
        }
        var found = [(id: Int64, score: Int64)]()
        var offset = 0
        let page = min(1_000, limit)
        pages: while true {
            let dir = try Self.scored(run([["ZRANGEBYSCORE", layout.hotIndexDirectory(shard), "-inf", "(\(cutoffMs)", "WITHSCORES",
                                            "LIMIT", "\(offset)", "\(page)"].map { Array($0.utf8) }])[0], "ZRANGEBYSCORE of the hot index directory")
            offset += dir.count
            // Buckets whose least score is past the limit-th found cannot add an earlier one
            // (and neither can the rest: the directory is in order).
            let bound = found.count >= limit ? found[limit - 1].score : Int64.max
            let buckets = dir.prefix { $0.score <= bound }
            let replies = try run(buckets.map {
                ["ZRANGEBYSCORE", layout.hotIndexBucket(shard, bucket: $0.member), "-inf", "(\(cutoffMs)", "WITHSCORES"].map { Array($0.utf8) }
            })
            for r in replies { found += try Self.scored(r, "ZRANGEBYSCORE of a hot index bucket").map { ($0.member, $0.score) } }
            found.sort { ($0.score, $0.id) < ($1.score, $1.id) }
            if found.count > limit { found.removeLast(found.count - limit) }
            if buckets.count < dir.count || dir.count < page { break pages }
        }
        return found.map(\.id)
    }

    /// The entries of least score of each of `shards`: the first entry of each of the first
    /// `buckets` buckets in directory order, and the directory score of the bucket after them
    /// (nil: none), which no other ticket's score is below (`HotIndexRescore.oldestHour`).
    /// Two round trips for all shards: the directories, then the buckets' first entries.
    public func earliest(shards: [Int], buckets: Int) throws -> [(entries: [(id: Int64, score: Int64)], bound: Int64?)] {
        let dirs = try run(shards.map { ["ZRANGE", layout.hotIndexDirectory($0), "0", "\(buckets)", "WITHSCORES"].map { Array($0.utf8) } })
            .map { try Self.scored($0, "ZRANGE of the hot index directory") }
        var commands = [[[UInt8]]]()
        for (shard, dir) in zip(shards, dirs) {
            for b in dir.prefix(buckets) { commands.append(["ZRANGE", layout.hotIndexBucket(shard, bucket: b.member), "0", "0", "WITHSCORES"].map { Array($0.utf8) }) }
        }
        var firsts = try run(commands)[...]
        return try dirs.map { dir in
            let sampled = min(dir.count, buckets)
            var entries = [(id: Int64, score: Int64)]()
            for r in firsts.prefix(sampled) { entries += try Self.scored(r, "ZRANGE of a hot index bucket").map { ($0.member, $0.score) } }
            firsts = firsts.dropFirst(sampled)
            return (entries, dir.count > buckets ? dir[buckets].score : nil)
        }
    }

    /// What is wrong with the index, read whole (for tests and checks; empty: nothing): a
    /// bucket without its directory entry or with another least score, an id in another
    /// shard's or bucket's set, a count that is not the number of ids.
    public func inconsistencies() throws -> [String] {
        var problems = [String]()
        let shards = Array(0..<layout.shards)
        let dirs = try run(shards.map { ["ZRANGE", layout.hotIndexDirectory($0), "0", "-1", "WITHSCORES"].map { Array($0.utf8) } })
        let counts = try self.counts(shards: shards)
        // Buckets found by SCAN too, so that one missing from its directory is seen.
        var scanned = Set<String>(), cursor = "0"
        repeat {
            let r = try run([["SCAN", cursor, "MATCH", "\(layout.prefix):{*}:ix:*", "COUNT", "1000"].map { Array($0.utf8) }])[0]
            guard let parts = r.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else { throw RedisError.protocolError("SCAN answered \(r)") }
            for k in keys { if let s = k.string { scanned.insert(s) } }
            cursor = next
        } while cursor != "0"
        var listed = Set<String>()
        for shard in shards {
            let dir = try Self.scored(dirs[shard], "ZRANGE of the hot index directory")
            let keys = dir.map { layout.hotIndexBucket(shard, bucket: $0.member) }
            listed.formUnion(keys)
            let contents = try run(keys.map { ["ZRANGE", $0, "0", "-1", "WITHSCORES"].map { Array($0.utf8) } })
            var total = 0
            for ((bucket, least), reply) in zip(dir, contents) {
                let entries = try Self.scored(reply, "ZRANGE of a hot index bucket")
                total += entries.count
                if entries.isEmpty { problems.append("shard \(shard): bucket \(bucket) is in the directory and empty") }
                if let m = entries.map(\.score).min(), m != least { problems.append("shard \(shard): bucket \(bucket) least score \(m), directory \(least)") }
                for e in entries where layout.shard(of: e.member) != shard || layout.hotIndexBucket(of: e.member) != bucket {
                    problems.append("shard \(shard): ticket \(e.member) in bucket \(bucket)")
                }
            }
            if total != counts[shard] { problems.append("shard \(shard): count \(counts[shard]), \(total) ids in its buckets") }
        }
        for key in scanned.subtracting(listed).sorted() { problems.append("bucket \(key) is not in its directory") }
        return problems
    }

    // MARK: upgrade

    /// KEYS: [1] the legacy index, [2] directory, [3] count, then the bucket keys. ARGV: nb,
    /// then per bucket: its number, c, and c ids. Moves each id still in the legacy index
    /// (with its score there) into its bucket (`LT`: a writer may have put it there already),
    /// removes it from the legacy index, and counts the ids new to the buckets. Reply: how
    /// many ids moved.
    static let upgradeScript = """
    local nb, p, moved, added = tonumber(ARGV[1]), 2, 0, 0
    for j = 1, nb do
      local bucket, c = ARGV[p], tonumber(ARGV[p + 1])
      local ids = {unpack(ARGV, p + 2, p + 1 + c)}
      local scores = redis.call('ZMSCORE', KEYS[1], unpack(ids))
      local zs, least = {}, nil
      for k = 1, c do
        if scores[k] then
          zs[#zs + 1] = scores[k]; zs[#zs + 1] = ids[k]
          if not least or tonumber(scores[k]) < tonumber(least) then least = scores[k] end
        end
      end
      if #zs > 0 then
        added = added + redis.call('ZADD', KEYS[3 + j], 'LT', unpack(zs))
        redis.call('ZADD', KEYS[2], 'LT', least, bucket)
        moved = moved + redis.call('ZREM', KEYS[1], unpack(ids))
      end
      p = p + 2 + c
    end
    if added > 0 then redis.call('INCRBY', KEYS[3], added) end
    return moved
    """

    /// Moves the hot index of earlier versions (one sorted set per shard) into buckets, 1,000
    /// ids a script call; a no-op once done. The daemon calls it at start and the compactor
    /// before each run, so that a Redis written by an earlier version loses no ticket from
    /// the index. Returns how many ids moved.
    @discardableResult
    public func upgrade() throws -> Int {
        var moved = 0
        var shards = Array(0..<layout.shards)
        while !shards.isEmpty {
            let pages = try run(shards.map { ["ZRANGE", layout.legacyHotIndex($0), "0", "999"].map { Array($0.utf8) } })
            var calls = [[[UInt8]]](), next = [Int]()
            for (shard, page) in zip(shards, pages) {
                let ids = try Self.integers(page, "ZRANGE of the legacy hot index")
                guard !ids.isEmpty else { continue }
                next.append(shard)
                let byBucket = Dictionary(grouping: ids, by: layout.hotIndexBucket(of:)).sorted { $0.key < $1.key }
                var cmd: [[UInt8]] = ["EVAL", Self.upgradeScript, "\(3 + byBucket.count)",
                                      layout.legacyHotIndex(shard), layout.hotIndexDirectory(shard), layout.hotIndexCount(shard)].map { Array($0.utf8) }
                cmd += byBucket.map { Array(layout.hotIndexBucket(shard, bucket: $0.key).utf8) }
                cmd.append(Array("\(byBucket.count)".utf8))
                for (b, list) in byBucket {
                    cmd.append(Array("\(b)".utf8))
                    cmd.append(Array("\(list.count)".utf8))
                    cmd += list.map { Array("\($0)".utf8) }
                }
                calls.append(cmd)
            }
            var again = [Int]()
            for (shard, r) in zip(next, try run(calls)) {
                guard let n = r.int else { throw RedisError.protocolError("the hot index upgrade answered \(r)") }
                moved += Int(n)
                if n > 0 { again.append(shard) }  // a page that moved nothing holds no id: stop there
            }
            shards = again
        }
        return moved
    }
}
