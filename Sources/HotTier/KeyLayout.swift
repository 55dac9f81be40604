import StrataCore

/// Every Redis key of the hot tier. Each key carries its shard as a hash tag (`{7}`), so
/// all keys of a shard live in one Redis Cluster slot and one script can touch them all.
/// See docs/hot-tier.md for each key's type, size and lifetime.
public struct KeyLayout: Sendable, Equatable {
    public static let maxShards = 16_384

    public let prefix: String
    public let shards: Int

    public init(prefix: String = "st", shards: Int = 32) {
        precondition(shards >= 1 && shards <= Self.maxShards, "shards must be 1...\(Self.maxShards)")
        precondition(!prefix.isEmpty && !prefix.contains("{") && !prefix.contains("}"))
        self.prefix = prefix
        self.shards = shards
    }

    /// The shard of a ticket: a mix of its id, so that sequential ids spread evenly.
    public func shard(of id: Int64) -> Int {
        var z = UInt64(bitPattern: id) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(shards))
    }

    func tag(_ shard: Int) -> String { "\(prefix):{\(shard)}" }
    /// What every key of the shard starts with (`st:{7}:`), for scripts that name its keys.
    public func keyPrefix(_ shard: Int) -> String { tag(shard) + ":" }

    /// Current state of one ticket (string: msgpack of values, stamps and vector).
    public func ticket(_ id: Int64) -> String { "\(ticketKeyPrefix(shard(of: id)))\(id)" }
    /// What every ticket key of `shard` starts with (then the id).
    public func ticketKeyPrefix(_ shard: Int) -> String { "\(tag(shard)):t:" }
    /// How many times tickets of the shard have left Redis (string, `INCR` by the compactor's
    /// compare-and-delete in the same call). The daemon merges a ticket it has not read as
    /// absent only while this is what it last saw (docs/hot-tier.md, "Tickets not read").
    public func movedCount(_ shard: Int) -> String { "\(tag(shard)):mv" }
    /// The shard's change log (stream): one entry per accepted event, later `ticket_events`.
    public func changeLog(_ shard: Int) -> String { "\(tag(shard)):log" }
    /// The compactor's mark on the shard (string `nonce|stream id`, docs/tiering.md, "Deleting
    /// on a mark"): set before a migration reads the shard's tickets, to the change log's last
    /// generated id. Every write of a ticket appends to the change log in the same atomic
    /// call, or, when it logs nothing (a restore, a repeat that still changed a field), deletes
    /// this key: so while the mark still names the log's last id, no ticket of the shard has
    /// changed since the read, and the compactor deletes what it moved without comparing values.
    public func compactionMark(_ shard: Int) -> String { "\(tag(shard)):cm" }
    /// The shard's reopened tickets (set of ids): tickets restored from the cold tier and not
    /// moved back yet. Their restore adds them in the same atomic call; the compactor reads
    /// the set after a migration's tickets, supersedes the older cold rows of those it moves
    /// in the transaction that registers their new rows, and its delete removes them from the
    /// set in the call that deletes them (docs/tiering.md, "A ticket coming back").
    public func reopened(_ shard: Int) -> String { "\(tag(shard)):ro" }
    /// The id of the last migration run whose Redis deletes on the shard all completed, set
    /// after their replies came back: a Redis that has it has every one of those deletes (an
    /// append-only file and a replica's stream are prefixes of what the server ran). A later
    /// run that finds it missing or older does that run's deletes again (docs/tiering.md,
    /// "When Redis loses a run's deletes").
    public func compactionDeleted(_ shard: Int) -> String { "\(tag(shard)):cd" }
    /// The id of the last rollup run with a drop call on the shard (its moving keys deleted),
    /// raised in each such call: a Redis that has it at a run has every rename of that run on
    /// the shard, which came before. What settling a rollup reads, with the sentinel above, to
    /// tell a lost drop from a lost rename (docs/tiering.md, "When Redis loses a run's deletes").
    public func rollupDropped(_ shard: Int) -> String { "\(tag(shard)):rd" }
    /// One bucket of the shard's hot index (zset): the ids of the shard's tickets in one id
    /// range (`hotIndexBucket(of:)`), each scored by an hour no later than that of its
    /// updated_at (`hotIndexScore`), for the compactor. Small enough to stay a listpack
    /// (about 12 bytes a ticket, where one zset per shard took about 100; `HotIndex`).
    public func hotIndexBucket(_ shard: Int, bucket: Int64) -> String { "\(tag(shard)):ix:\(bucket)" }
    /// The bucket number of a ticket id: its id range of `hotIndexBucketWidth` ids.
    public func hotIndexBucket(of id: Int64) -> Int64 {
        floorDiv(id, hotIndexBucketWidth)
    }
    /// The key of the bucket that holds ticket `id`.
    public func hotIndexBucketKey(of id: Int64) -> String { hotIndexBucket(shard(of: id), bucket: hotIndexBucket(of: id)) }
    /// The bucket keys of one script call's tickets (all of `shard`), each once, in the order
    /// the tickets first reach them, and per ticket its bucket key's position among them
    /// (0-based): the scripts that remove from or rescore the index take the keys after the
    /// ticket keys and each ticket's bucket as an index into KEYS.
    public func hotIndexBucketKeys(shard: Int, ids: some Collection<Int64>) -> (keys: [[UInt8]], positions: [Int]) {
        var position = [Int64: Int](), keys = [[UInt8]](), positions = [Int]()
        positions.reserveCapacity(ids.count)
        for id in ids {
            precondition(self.shard(of: id) == shard, "ticket \(id) is not of shard \(shard)")
            let b = hotIndexBucket(of: id)
            if let p = position[b] { positions.append(p); continue }
            position[b] = keys.count
            positions.append(keys.count)
            keys.append(Array(hotIndexBucket(shard, bucket: b).utf8))
        }
        return (keys, positions)
    }
    /// Ids per bucket: the largest power of ten at most 90 x shards, so that with dense ids a
    /// shard's bucket holds 9 to 90 tickets (a listpack holds up to 128 by Redis's default).
    public var hotIndexBucketWidth: Int64 {
        var w: Int64 = 1
        while w * 10 <= Int64(90 * shards) { w *= 10 }
        return w
    }
    /// The shard's hot index directory (zset): each bucket that holds tickets, scored by the
    /// least score in it (exact: every script that changes a bucket sets it).
    public func hotIndexDirectory(_ shard: Int) -> String { "\(tag(shard)):ixd" }
    /// How many tickets the shard's hot index holds (string, an integer).
    public func hotIndexCount(_ shard: Int) -> String { "\(tag(shard)):ixn" }
    /// The shard's hot index as earlier versions kept it (one zset of all its tickets); `HotIndex.upgrade`
    /// moves it into buckets.
    public func legacyHotIndex(_ shard: Int) -> String { "\(tag(shard)):idx" }

    /// A hot index score's resolution: updated_at rounded down to its hour. Writers only
    /// lower a score (`ZADD LT`: a new ticket, or updated_at moved to an earlier hour), so a
    /// score is never later than the ticket's updated_at and every ticket aged past a cutoff
    /// is found; a patch that moves updated_at later writes no `ZADD`. The compactor reads
    /// updated_at itself, leaves hot what is not aged, and raises the scores it finds behind
    /// (`HotIndexRescore`; docs/hot-tier.md, "Keys").
    public static let hotIndexResolutionMs: Int64 = 3_600_000
    /// The hot index score of a ticket updated at `ms`.
    public static func hotIndexScore(updatedAtMs ms: Int64) -> Int64 {
        let r = ms % hotIndexResolutionMs
        return ms - (r < 0 ? r + hotIndexResolutionMs : r)
    }
    /// The shard's incomplete tickets (set of ids): tickets that lack a required column,
    /// because patches arrived before their create. SQL does not show them until it does.
    public func incomplete(_ shard: Int) -> String { "\(tag(shard)):inc" }
    /// The shard's open minutes (zset, member and score the minute): minute hashes whose
    /// counts are not yet in their hour; `MinuteFold` moves them there once the minute is over.
    public func openMinutes(_ shard: Int) -> String { "\(tag(shard)):mo" }
    /// Counters of one minute (hash: metric -> count), expiring after the retention.
    public func minuteMetrics(_ shard: Int, minute: Int64) -> String { "\(tag(shard)):m:\(minute)" }
    /// Counters of one hour (hash): its minutes' counters once each minute is folded, and
    /// those of events past the minute retention.
    public func hourMetrics(_ shard: Int, hour: Int64) -> String { "\(tag(shard)):h:\(hour)" }
    /// The shard's hour index (zset): every hour that has a counter hash, scored by the hour.
    public func hourIndex(_ shard: Int) -> String { "\(tag(shard)):hours" }
    /// An hour's counters while a compaction run moves them to the cold tier (the hash
    /// renamed, atomically, so that later events start a fresh one).
    public func movingHour(_ shard: Int, run: Int64, hour: Int64) -> String { "\(tag(shard)):hm:\(run):\(hour)" }
}
