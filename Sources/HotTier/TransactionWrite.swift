import RedisClient
import StrataCore

/// One shard's part of a round on the transaction write path (docs/hot-tier.md, "Writing with
/// a transaction"): the reads that `WATCH` what the merge rests on, and the `MULTI`/`EXEC`
/// that writes the merge, the write script's effects without Lua. Pure: commands built from
/// the merge, replies parsed into what the merge needs; `HotTier.applyTransactional` sends them.
struct TransactionWrite {
    let write: ShardWrite
    /// The minutes the shard's events may count in (the merge counts accepted events only):
    /// the open minutes and the minute keys are read for these.
    let minutes: [Int64]
    /// The hours the shard's events past the minute retention may count in: the hour index is
    /// watched and whether each exists is read, so that a new one is made with one `HSET`.
    let hours: [Int64]

    /// What the reads found.
    struct Found {
        var stored: [Int64: [UInt8]] = [:]
        /// Minutes in the open-minutes set (not folded yet).
        var open: Set<Int64> = []
        /// Minutes whose key exists.
        var minuteKeys: Set<Int64> = []
        /// Of `hours`, those in the hour index (which lists exactly the hours that have a key).
        var hourKeys: Set<Int64> = []
    }

    init(_ write: ShardWrite, events: [TicketEvent], firstMinute: Int64, layout: KeyLayout) {
        self.write = write
        var minutes = Set<Int64>(), hours = Set<Int64>()
        for i in write.events {
            let m = floorDiv(events[i].at, 60_000)
            if m >= firstMinute { minutes.insert(m) } else { hours.insert(floorDiv(m, 60)) }
        }
        self.minutes = minutes.sorted()
        self.hours = hours.sorted()
    }

    static let watch = Array("WATCH".utf8), mget = Array("MGET".utf8), zmscore = Array("ZMSCORE".utf8), exists = Array("EXISTS".utf8)

    /// The reads, after a `WATCH` of the tickets, of the hour index (for `hours`) and (if the
    /// events have minutes) of the open minutes: what is read after it is exact until `EXEC`
    /// unless `EXEC` fails. `WATCH`; `MGET` of the tickets; `ZMSCORE` of the hour index for
    /// `hours`; `ZMSCORE` of the open minutes and an `EXISTS` per minute key (when there are
    /// minutes).
    func reads(layout: KeyLayout) -> [RESPCommand] {
        let s = write.shard
        let tag = Array(layout.ticketKeyPrefix(s).utf8)
        let open = Array(layout.openMinutes(s).utf8)
        var out = [RESPCommand]()
        let index = Array(layout.hourIndex(s).utf8)
        var w = RESPCommand.Builder(arguments: 1 + write.ids.count + (hours.isEmpty ? 0 : 1) + (minutes.isEmpty ? 0 : 1),
                                    capacity: write.ids.count * (tag.count + 20) + 96)
        w.append(Self.watch)
        for id in write.ids { w.append(tag, decimal: id) }
        // The hour index, not each hour key: every writer that makes an hour key indexes it
        // in the same atomic step, so a new key changes the index. One key where a replay's
        // round watched about 20 (Redis 7.0 checks each key watched against all the
        // connection's others: quadratic).
        if !hours.isEmpty { w.append(index) }
        if !minutes.isEmpty { w.append(open) }
        out.append(w.command(name: "WATCH", key: tag))
        var g = RESPCommand.Builder(arguments: 1 + write.ids.count, capacity: write.ids.count * (tag.count + 20) + 16)
        g.append(Self.mget)
        for id in write.ids { g.append(tag, decimal: id) }
        out.append(g.command(name: "MGET", key: tag))
        if !hours.isEmpty {
            var z = RESPCommand.Builder(arguments: 2 + hours.count, capacity: 24 * hours.count + index.count + 16)
            z.append(Self.zmscore)
            z.append(index)
            for h in hours { z.append(decimal: h) }
            out.append(z.command(name: "ZMSCORE", key: index))
        }
        if !minutes.isEmpty {
            var z = RESPCommand.Builder(arguments: 2 + minutes.count, capacity: 24 * minutes.count + open.count + 16)
            z.append(Self.zmscore)
            z.append(open)
            for m in minutes { z.append(decimal: m) }
            out.append(z.command(name: "ZMSCORE", key: open))
            let prefix = Array(layout.minuteMetrics(s, minute: 0).utf8.dropLast())
            for m in minutes {
                var e = RESPCommand.Builder(arguments: 2, capacity: prefix.count + 24)
                e.append(Self.exists)
                e.append(prefix, decimal: m)
                out.append(e.command(name: "EXISTS", key: open))
            }
        }
        return out
    }

    /// The tickets whose place in the hot index the read does not tell: present in Redis with
    /// an updated_at that is not a number of ms (null now, or digits too large for a double),
    /// and written with an index score. Every other ticket is in its bucket exactly when it is
    /// in Redis with such an updated_at: a ticket joins its bucket in the write that gives it
    /// one and leaves it in the delete of its key (docs/hot-tier.md).
    static func unknownInIndex(_ merge: ShardMerge, writes: [ShardMerge.Write]) -> [Int64] {
        let scored = Set(writes.lazy.filter { $0.indexScore != nil }.map(\.id))
        return merge.entries.filter { !$0.absent && $0.indexed == nil && scored.contains($0.id) }.map(\.id)
    }

    /// A `ZMSCORE` per bucket of these tickets of `shard`.
    static func indexReads(_ ids: [Int64], shard: Int, layout: KeyLayout) -> [(ids: [Int64], command: RESPCommand)] {
        var byBucket = [Int64: [Int64]]()
        for id in ids { byBucket[layout.hotIndexBucket(of: id), default: []].append(id) }
        return byBucket.sorted { $0.key < $1.key }.map { bucket, ids in
            let key = Array(layout.hotIndexBucket(shard, bucket: bucket).utf8)
            var z = RESPCommand.Builder(arguments: 2 + ids.count, capacity: 24 * ids.count + key.count + 16)
            z.append(zmscore)
            z.append(key)
            for id in ids { z.append(decimal: id) }
            return (ids, z.command(name: "ZMSCORE", key: key))
        }
    }

    /// Of the tickets asked (`indexReads`), those in their bucket.
    static func indexed(_ reads: [(ids: [Int64], command: RESPCommand)], replies: [RESPValue]) throws -> Set<Int64> {
        guard replies.count == reads.count else { throw RedisError.protocolError("\(replies.count) replies to \(reads.count) ZMSCORE") }
        var out = Set<Int64>()
        for (read, reply) in zip(reads, replies) {
            if case .error(let m) = reply { throw RedisError.server(command: "ZMSCORE", message: m) }
            guard case .array(let scores) = reply, scores.count == read.ids.count else { throw RedisError.protocolError("ZMSCORE of a hot index bucket answered \(reply)") }
            for (id, score) in zip(read.ids, scores) where score != .null { out.insert(id) }
        }
        return out
    }

    /// The replies to `reads`, in order.
    func parse(_ replies: [RESPValue], layout: KeyLayout) throws -> Found {
        let expected = 2 + (hours.isEmpty ? 0 : 1) + (minutes.isEmpty ? 0 : 1 + minutes.count)
        guard replies.count == expected else { throw RedisError.protocolError("\(replies.count) replies to \(expected) reads of shard \(write.shard)") }
        var found = Found()
        var r = replies.makeIterator()
        func next(_ what: String) throws -> RESPValue {
            let v = r.next()!
            if case .error(let m) = v { throw RedisError.server(command: what, message: m) }
            return v
        }
        guard case .simple("OK") = try next("WATCH") else { throw RedisError.protocolError("WATCH of shard \(write.shard) did not answer OK") }
        guard case .array(let values) = try next("MGET"), values.count == write.ids.count else {
            throw RedisError.protocolError("MGET of shard \(write.shard) did not answer \(write.ids.count) values")
        }
        for (id, v) in zip(write.ids, values) {
            switch v {
            case .bulk(let b): found.stored[id] = b
            case .null: continue
            default: throw RedisError.protocolError("MGET returned \(v) for ticket \(id)")
            }
        }
        if !hours.isEmpty {
            guard case .array(let scores) = try next("ZMSCORE"), scores.count == hours.count else {
                throw RedisError.protocolError("ZMSCORE of \(layout.hourIndex(write.shard)) did not answer \(hours.count) scores")
            }
            for (h, s) in zip(hours, scores) where s != .null { found.hourKeys.insert(h) }
        }
        if !minutes.isEmpty {
            guard case .array(let scores) = try next("ZMSCORE"), scores.count == minutes.count else {
                throw RedisError.protocolError("ZMSCORE of \(layout.openMinutes(write.shard)) did not answer \(minutes.count) scores")
            }
            for (m, s) in zip(minutes, scores) where s != .null { found.open.insert(m) }
            for m in minutes {
                guard let n = try next("EXISTS").int, n == 0 || n == 1 else { throw RedisError.protocolError("EXISTS of a minute key of shard \(write.shard) did not answer 0 or 1") }
                if n == 1 { found.minuteKeys.insert(m) }
            }
        }
        return found
    }

    static let multi = RESPCommand([Array("MULTI".utf8)]), exec = RESPCommand([Array("EXEC".utf8)]), unwatch = RESPCommand([Array("UNWATCH".utf8)])

    /// The transaction that writes `merge` (`writes`: `merge.writes()`) over what was `found`:
    /// `MULTI`, the write script's effects, `EXEC`. A counter is an `HINCRBY`, but for an hour
    /// key of `hours` found absent (the hour index watched: it is still absent at `EXEC`, or
    /// `EXEC` fails),
    /// which is made with one `HSET` of all its fields.
    /// `indexed`: the tickets of `unknownInIndex` found in their bucket.
    func transaction(merge: ShardMerge, writes: [ShardMerge.Write], found: Found, indexed: Set<Int64>, options: HotTierOptions) throws -> [RESPCommand] {
        let layout = options.layout, s = write.shard
        var out = [Self.multi]
        // 1. The tickets.
        let tag = Array(layout.ticketKeyPrefix(s).utf8)
        var bytes = 16
        for w in writes { bytes += w.blob.count + tag.count + 48 }
        var mset = RESPCommand.Builder(arguments: 1 + 2 * writes.count, capacity: bytes)
        mset.append("MSET")
        for w in writes {
            mset.append(tag, decimal: w.id)
            mset.append(w.blob)
        }
        out.append(mset.command(name: "MSET", key: tag))
        // 2. The change log: one entry, the accepted events' lines.
        if !merge.logEntry.isEmpty {
            let log = Array(layout.changeLog(s).utf8)
            let capped = options.changeLogMaxLength > 0
            var x = RESPCommand.Builder(arguments: capped ? 7 : 5, capacity: merge.logEntry.count + log.count + 48)
            x.append("XADD")
            x.append(log)
            if capped {
                x.append("MAXLEN")
                x.append("~")
                x.append(decimal: Int64(options.changeLogMaxLength))
            }
            x.append("*")
            x.append("e")
            x.append(merge.logEntry)
            out.append(x.command(name: "XADD", key: log))
        }
        // 3. The hot index: scores only lowered (LT), each bucket's least into the directory,
        //    the count raised by the tickets new to their bucket: absent from Redis at the read,
        //    or of `unknownInIndex` and not found in it (a ticket joins or leaves its bucket
        //    only with a write of its key, which is watched).
        var added = 0
        var least = [(bucket: Int64, score: [UInt8])]()
        var inIndex = Set<Int64>()
        for e in merge.entries where !e.absent && (e.indexed != nil || indexed.contains(e.id)) { inIndex.insert(e.id) }
        var byBucket = [Int64: [ShardMerge.Write]]()
        for w in writes where w.indexScore != nil { byBucket[layout.hotIndexBucket(of: w.id), default: []].append(w) }
        for (bucket, scored) in byBucket.sorted(by: { $0.key < $1.key }) {
            let key = Array(layout.hotIndexBucket(s, bucket: bucket).utf8)
            var z = RESPCommand.Builder(arguments: 3 + 2 * scored.count, capacity: 48 * scored.count + key.count + 16)
            z.append("ZADD")
            z.append(key)
            z.append("LT")
            var low = scored[0]
            for w in scored {
                z.append(w.indexScore!)
                z.append(decimal: w.id)
                if !inIndex.contains(w.id) { added += 1 }
                if ShardWrite.numeric(w.indexScore!) < ShardWrite.numeric(low.indexScore!) { low = w }
            }
            out.append(z.command(name: "ZADD", key: key))
            least.append((bucket, low.indexScore!))
        }
        if !least.isEmpty {
            let dir = Array(layout.hotIndexDirectory(s).utf8)
            var z = RESPCommand.Builder(arguments: 3 + 2 * least.count, capacity: 48 * least.count + dir.count + 16)
            z.append("ZADD")
            z.append(dir)
            z.append("LT")
            for l in least {
                z.append(l.score)
                z.append(decimal: l.bucket)
            }
            out.append(z.command(name: "ZADD", key: dir))
        }
        if added > 0 { out.append(RESPCommand([Array("INCRBY".utf8), Array(layout.hotIndexCount(s).utf8), Array(String(added).utf8)])) }
        // 4. The incomplete set.
        let joining = writes.filter(\.incomplete), leaving = writes.filter { !$0.incomplete && $0.wasIncomplete }
        for (name, list) in [("SADD", joining), ("SREM", leaving)] where !list.isEmpty {
            let key = Array(layout.incomplete(s).utf8)
            var c = RESPCommand.Builder(arguments: 2 + list.count, capacity: 24 * list.count + key.count + 16)
            c.append(name)
            c.append(key)
            for w in list { c.append(decimal: w.id) }
            out.append(c.command(name: name, key: key))
        }
        // 5. The counters. A minute not open and whose key exists was folded (`MinuteFold`):
        //    its counts go to its hour too, and its key keeps its retention (set again, in case
        //    it ran out since the read: then the key is made and at once removed). A minute
        //    neither open nor kept is opened. Hour keys are raised field by field and indexed
        //    with ZADD NX: whether the key existed does not matter to either.
        var hourCounts = [Int64: [(field: [UInt8], delta: Int64)]]()
        var minuteCounts = [Int64: [(field: [UInt8], delta: Int64)]]()
        for (c, delta) in merge.counters {
            if c.hour { hourCounts[c.bucket, default: []].append((merge.field(c), delta)) }
            else { minuteCounts[c.bucket, default: []].append((merge.field(c), delta)) }
        }
        let open = Array(layout.openMinutes(s).utf8)
        let minutePrefix = Array(layout.minuteMetrics(s, minute: 0).utf8.dropLast())
        for (m, fields) in minuteCounts.sorted(by: { $0.key < $1.key }) {
            guard minutes.contains(m) else {
                throw RedisError.protocolError("the merge counted in minute \(m), which shard \(write.shard)'s reads did not cover")
            }
            let key = minutePrefix + Array(String(m).utf8)
            if !found.open.contains(m) {
                if found.minuteKeys.contains(m) {
                    for f in fields { hourCounts[floorDiv(m, 60), default: []].append(f) }
                } else {
                    out.append(RESPCommand([Array("ZADD".utf8), open, Array(String(m).utf8), Array(String(m).utf8)]))
                }
            }
            out.append(contentsOf: Self.hincrby(key, fields))
            if !found.open.contains(m) && found.minuteKeys.contains(m) {
                let at = (m + 1) * 60 + Int64(options.minuteRetentionSeconds)
                out.append(RESPCommand([Array("EXPIREAT".utf8), key, Array(String(at).utf8)]))
            }
        }
        if !hourCounts.isEmpty {
            let hourPrefix = Array(layout.hourMetrics(s, hour: 0).utf8.dropLast())
            let counted = hourCounts.keys.sorted()
            for h in counted {
                // One HINCRBY per field: a folded minute's fields add to the hour's own.
                var sum = [[UInt8]: Int64](), order = [[UInt8]]()
                for (f, d) in hourCounts[h]! {
                    if sum[f] == nil { order.append(f) }
                    sum[f, default: 0] += d
                }
                let key = hourPrefix + Array(String(h).utf8)
                if found.hourKeys.contains(h) || !self.hours.contains(h) {
                    out.append(contentsOf: Self.hincrby(key, order.map { ($0, sum[$0]!) }))
                } else {
                    var b = RESPCommand.Builder(arguments: 2 + 2 * order.count, capacity: key.count + 48 * order.count + 16)
                    b.append("HSET")
                    b.append(key)
                    for f in order {
                        b.append(f)
                        b.append(decimal: sum[f]!)
                    }
                    out.append(b.command(name: "HSET", key: key))
                }
            }
            let index = Array(layout.hourIndex(s).utf8)
            var z = RESPCommand.Builder(arguments: 3 + 2 * counted.count, capacity: 40 * counted.count + index.count + 16)
            z.append("ZADD")
            z.append(index)
            z.append("NX")
            for h in counted {
                z.append(decimal: h)
                z.append(decimal: h)
            }
            out.append(z.command(name: "ZADD", key: index))
        }
        out.append(Self.exec)
        return out
    }

    static func hincrby(_ key: [UInt8], _ fields: [(field: [UInt8], delta: Int64)]) -> [RESPCommand] {
        fields.map { f in
            var b = RESPCommand.Builder(arguments: 4, capacity: key.count + f.field.count + 40)
            b.append("HINCRBY")
            b.append(key)
            b.append(f.field)
            b.append(decimal: f.delta)
            return b.command(name: "HINCRBY", key: key)
        }
    }

    /// What a transaction's replies say: applied, or not (a watched key changed: `EXEC`
    /// answered nil). Any error in them throws: a command refused while queued aborts the
    /// transaction (`EXECABORT`), one that fails inside it leaves the rest applied, as in a script.
    static func applied(_ replies: [RESPValue], shard: Int) throws -> Bool {
        guard let last = replies.last, replies.count >= 2 else { throw RedisError.protocolError("a transaction of shard \(shard) got \(replies.count) replies") }
        for r in replies.dropLast() {
            if case .error(let m) = r { throw RedisError.server(command: "MULTI (transaction write of shard \(shard))", message: m) }
        }
        switch last {
        case .null: return false
        case .array(let results):
            for r in results {
                if case .error(let m) = r { throw RedisError.server(command: "EXEC (transaction write of shard \(shard))", message: m) }
            }
            return true
        case .error(let m): throw RedisError.server(command: "EXEC (transaction write of shard \(shard))", message: m)
        default: throw RedisError.protocolError("EXEC of shard \(shard) answered \(last)")
        }
    }
}
