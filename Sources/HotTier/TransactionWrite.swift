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
        /// The shard's moved count (`KeyLayout.movedCount`; empty: none), when read.
        var moved: [UInt8]? = nil

        /// Whether what the merge rests on is the same in both: every one of `ids`, and the moved
        /// count (no ticket left Redis between them). The hours and minutes are not: the merge
        /// does not read them, and the transaction is built from the watched read's.
        func sameTickets(as other: Found, ids: [Int64]) -> Bool {
            moved == other.moved && ids.allSatisfy { stored[$0] == other.stored[$0] }
        }
    }

    /// What a read covers: whether it `WATCH`es first, which tickets it reads (nil: all of
    /// the shard's), and whether it reads the moved count too (watched with the tickets).
    struct ReadPlan {
        var watch = true
        var tickets: [Int64]? = nil
        var moved = false
    }

    init(_ write: ShardWrite, events: [TicketEvent], firstMinute: Int64, layout: KeyLayout) {
        self.write = write
        var minutes = Set<Int64>(), hours = Set<Int64>()
        events.withUnsafeBufferPointer { events in  // `events[i].at` copied the whole event first
            for i in write.events {
                let m = floorDiv(events[i].at, 60_000)
                if m >= firstMinute { minutes.insert(m) } else { hours.insert(floorDiv(m, 60)) }
            }
        }
        self.minutes = minutes.sorted()
        self.hours = hours.sorted()
    }

    static let watch = Array("WATCH".utf8), mget = Array("MGET".utf8), zmscoreName = Array("ZMSCORE".utf8), exists = Array("EXISTS".utf8)

    /// The reads, after a `WATCH` of the tickets, of the hour index (for `hours`) and (if the
    /// events have minutes) of the open minutes: what is read after it is exact until `EXEC`
    /// unless `EXEC` fails. `WATCH`; `MGET` of the tickets; `ZMSCORE` of the hour index for
    /// `hours`; `ZMSCORE` of the open minutes and an `EXISTS` per minute key (when there are
    /// minutes).
    func reads(layout: KeyLayout, _ plan: ReadPlan = ReadPlan()) -> [RESPCommand] {
        let s = write.shard
        let tag = Array(layout.ticketKeyPrefix(s).utf8)
        let open = Array(layout.openMinutes(s).utf8)
        let moved = Array(layout.movedCount(s).utf8)
        let tickets = plan.tickets ?? write.ids
        var out = [RESPCommand]()
        let index = Array(layout.hourIndex(s).utf8)
        if plan.watch {
            var w = RESPCommand.Builder(arguments: 1 + tickets.count + (plan.moved ? 1 : 0) + (hours.isEmpty ? 0 : 1) + (minutes.isEmpty ? 0 : 1),
                                        capacity: tickets.count * (tag.count + 20) + 128)
            w.append(Self.watch)
            for id in tickets { w.append(tag, decimal: id) }
            if plan.moved { w.append(moved) }
            // The hour index, not each hour key: every writer that makes an hour key indexes it
            // in the same atomic step, so a new key changes the index. One key where a replay's
            // round watched about 20 (Redis 7.0 checks each key watched against all the
            // connection's others: quadratic).
            if !hours.isEmpty { w.append(index) }
            if !minutes.isEmpty { w.append(open) }
            out.append(w.command(name: "WATCH", key: tag))
        }
        if !tickets.isEmpty || plan.moved {
            var g = RESPCommand.Builder(arguments: 1 + tickets.count + (plan.moved ? 1 : 0), capacity: tickets.count * (tag.count + 20) + 48)
            g.append(Self.mget)
            for id in tickets { g.append(tag, decimal: id) }
            if plan.moved { g.append(moved) }
            out.append(g.command(name: "MGET", key: tag))
        }
        if !hours.isEmpty { out.append(Self.zmscore(index, hours)) }
        if !minutes.isEmpty {
            out.append(Self.zmscore(open, minutes))
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
        return byBucket.sorted { $0.key < $1.key }.map { bucket, ids in (ids, zmscore(Array(layout.hotIndexBucket(shard, bucket: bucket).utf8), ids)) }
    }

    /// `ZMSCORE key members...`: which of the members the sorted set holds.
    static func zmscore(_ key: [UInt8], _ members: [Int64]) -> RESPCommand {
        var z = RESPCommand.Builder(arguments: 2 + members.count, capacity: 24 * members.count + key.count + 16)
        z.append(zmscoreName)
        z.append(key)
        for m in members { z.append(decimal: m) }
        return z.command(name: "ZMSCORE", key: key)
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
    func parse(_ replies: [RESPValue], layout: KeyLayout, _ plan: ReadPlan = ReadPlan()) throws -> Found {
        let tickets = plan.tickets ?? write.ids
        let mget = !tickets.isEmpty || plan.moved
        let expected = (plan.watch ? 1 : 0) + (mget ? 1 : 0) + (hours.isEmpty ? 0 : 1) + (minutes.isEmpty ? 0 : 1 + minutes.count)
        guard replies.count == expected else { throw RedisError.protocolError("\(replies.count) replies to \(expected) reads of shard \(write.shard)") }
        var found = Found()
        var r = replies.makeIterator()
        func next(_ what: String) throws -> RESPValue {
            let v = r.next()!
            if case .error(let m) = v { throw RedisError.server(command: what, message: m) }
            return v
        }
        if plan.watch {
            guard case .simple("OK") = try next("WATCH") else { throw RedisError.protocolError("WATCH of shard \(write.shard) did not answer OK") }
        }
        if mget {
            let count = tickets.count + (plan.moved ? 1 : 0)
            guard case .array(let values) = try next("MGET"), values.count == count else {
                throw RedisError.protocolError("MGET of shard \(write.shard) did not answer \(count) values")
            }
            for (id, v) in zip(tickets, values) {
                switch v {
                case .bulk(let b): found.stored[id] = b
                case .null: continue
                default: throw RedisError.protocolError("MGET returned \(v) for ticket \(id)")
                }
            }
            if plan.moved {
                switch values[count - 1] {
                case .bulk(let b): found.moved = b
                case .null: found.moved = []
                default: throw RedisError.protocolError("MGET returned \(values[count - 1]) for \(layout.movedCount(write.shard))")
                }
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

    static let unwatch = RESPCommand([Array("UNWATCH".utf8)])
    static let names = (multi: Array("MULTI".utf8), exec: Array("EXEC".utf8), mset: Array("MSET".utf8), xadd: Array("XADD".utf8),
                        zadd: Array("ZADD".utf8), incrby: Array("INCRBY".utf8), sadd: Array("SADD".utf8), srem: Array("SREM".utf8),
                        hincrby: Array("HINCRBY".utf8), hset: Array("HSET".utf8), expireat: Array("EXPIREAT".utf8),
                        lt: Array("LT".utf8), nx: Array("NX".utf8), del: Array("DEL".utf8))

    /// The transaction that writes `merge` (`writes`: `merge.writes()`) over what was `found`,
    /// built into one buffer (`RESPCommand.Builder.next`; one reply per command): `MULTI`,
    /// the write script's effects, `EXEC`. A counter is an `HINCRBY`, but for an hour key of
    /// `hours` found absent (the hour index watched: it is still absent at `EXEC`, or `EXEC`
    /// fails), which is made with one `HSET` of all its fields.
    /// `indexed`: the tickets of `unknownInIndex` found in their bucket.
    func transaction(merge: ShardMerge, writes: [ShardMerge.Write], found: Found, indexed: Set<Int64>, options: HotTierOptions) throws -> RESPCommand {
        let layout = options.layout, s = write.shard, n = Self.names
        var bytes = 256 + merge.logEntry.count + 96 * merge.counters.count
        for w in writes { bytes += w.blob.count + 96 }
        var b = RESPCommand.Builder(arguments: 1, capacity: bytes)
        b.append(n.multi)
        // 1. The tickets.
        let tag = Array(layout.ticketKeyPrefix(s).utf8)
        b.next(arguments: 1 + 2 * writes.count)
        b.append(n.mset)
        for w in writes {
            b.append(tag, decimal: w.id)
            b.append(w.blob)
        }
        // 2. The change log: one entry, the accepted events' lines.
        if !merge.logEntry.isEmpty {
            let capped = options.changeLogMaxLength > 0
            b.next(arguments: capped ? 7 : 5)
            b.append(n.xadd)
            b.append(layout.changeLog(s))
            if capped {
                b.append("MAXLEN")
                b.append("~")
                b.append(decimal: Int64(options.changeLogMaxLength))
            }
            b.append("*")
            b.append("e")
            b.append(merge.logEntry)
        } else if !writes.isEmpty {
            // Tickets changed and nothing logged (a restore, a repeat that still won a field):
            // the compactor's mark goes, as the log's last id alone no longer says "unchanged".
            b.next(arguments: 2)
            b.append(n.del)
            b.append(layout.compactionMark(s))
        }
        // 3. The hot index: scores only lowered (LT), each bucket's least into the directory,
        //    the count raised by the tickets new to their bucket: absent from Redis at the read,
        //    or of `unknownInIndex` and not found in it (a ticket joins or leaves its bucket
        //    only with a write of its key, which is watched).
        var scored = writes.filter { $0.indexScore != nil }
        if !scored.isEmpty {
            var inIndex = Set<Int64>()
            for e in merge.entries where !e.absent && (e.indexed != nil || indexed.contains(e.id)) { inIndex.insert(e.id) }
            scored.sort { layout.hotIndexBucket(of: $0.id) < layout.hotIndexBucket(of: $1.id) }
            var least = [(bucket: Int64, score: [UInt8])]()
            var added = 0, start = 0
            while start < scored.count {
                let bucket = layout.hotIndexBucket(of: scored[start].id)
                var end = start + 1
                while end < scored.count && layout.hotIndexBucket(of: scored[end].id) == bucket { end += 1 }
                b.next(arguments: 3 + 2 * (end - start))
                b.append(n.zadd)
                b.append(layout.hotIndexBucket(s, bucket: bucket))
                b.append(n.lt)
                var low = start, lowest = Double.infinity
                for k in start..<end {
                    b.append(scored[k].indexScore!)
                    b.append(decimal: scored[k].id)
                    if !inIndex.contains(scored[k].id) { added += 1 }
                    let score = ShardWrite.numeric(scored[k].indexScore!)
                    if score < lowest { (low, lowest) = (k, score) }
                }
                least.append((bucket, scored[low].indexScore!))
                start = end
            }
            b.next(arguments: 3 + 2 * least.count)
            b.append(n.zadd)
            b.append(layout.hotIndexDirectory(s))
            b.append(n.lt)
            for l in least {
                b.append(l.score)
                b.append(decimal: l.bucket)
            }
            if added > 0 {
                b.next(arguments: 3)
                b.append(n.incrby)
                b.append(layout.hotIndexCount(s))
                b.append(decimal: Int64(added))
            }
        }
        // 4. The incomplete set.
        let joining = writes.filter(\.incomplete), leaving = writes.filter { !$0.incomplete && $0.wasIncomplete }
        for (name, list) in [(n.sadd, joining), (n.srem, leaving)] where !list.isEmpty {
            b.next(arguments: 2 + list.count)
            b.append(name)
            b.append(layout.incomplete(s))
            for w in list { b.append(decimal: w.id) }
        }
        // Tickets restored from the cold tier join the reopened set (`KeyLayout.reopened`).
        let reopened = writes.filter(\.reopened)
        if !reopened.isEmpty {
            b.next(arguments: 2 + reopened.count)
            b.append(n.sadd)
            b.append(layout.reopened(s))
            for w in reopened { b.append(decimal: w.id) }
        }
        // 5. The counters, each key's fields a run of the sorted counters: minutes, then hours.
        //    A minute not open and whose key exists was folded (`MinuteFold`): its counts go to
        //    its hour too (`late`), and its key keeps its retention (set again, in case it ran
        //    out since the read: then the key is made and at once removed). A minute neither
        //    open nor kept is opened. Hour keys are indexed with one ZADD NX.
        let counters = merge.counters.sorted { ($0.key.hour ? 1 : 0, $0.key.bucket) < ($1.key.hour ? 1 : 0, $1.key.bucket) }
        let minutePrefix = Array(layout.minuteMetrics(s, minute: 0).utf8.dropLast())
        let hourPrefix = Array(layout.hourMetrics(s, hour: 0).utf8.dropLast())
        var late = [ShardMerge.Counter: Int64]()
        var counted = [Int64]()  // the hours written
        var start = 0
        while start < counters.count {
            let key = counters[start].key
            var end = start + 1
            while end < counters.count && counters[end].key.hour == key.hour && counters[end].key.bucket == key.bucket { end += 1 }
            let run = counters[start..<end]
            start = end
            if !key.hour {
                let m = key.bucket
                guard minutes.contains(m) else {
                    throw RedisError.protocolError("the merge counted in minute \(m), which shard \(s)'s reads did not cover")
                }
                let open = found.open.contains(m), folded = !open && found.minuteKeys.contains(m)
                if !open && !folded {
                    b.next(arguments: 4)
                    b.append(n.zadd)
                    b.append(layout.openMinutes(s))
                    b.append(decimal: m)
                    b.append(decimal: m)
                }
                for (c, delta) in run {
                    b.next(arguments: 4)
                    b.append(n.hincrby)
                    b.append(minutePrefix, decimal: m)
                    b.append(merge.field(c))
                    b.append(decimal: delta)
                    if folded { late[ShardMerge.Counter(hour: true, bucket: floorDiv(m, 60), field: c.field), default: 0] += delta }
                }
                if folded {
                    b.next(arguments: 3)
                    b.append(n.expireat)
                    b.append(minutePrefix, decimal: m)
                    b.append(decimal: (m + 1) * 60 + Int64(options.minuteRetentionSeconds))
                }
                continue
            }
            // An hour: its own counts, and a folded minute's of the same hour (rare: a dictionary).
            let h = key.bucket
            var fields = run.map { (field: $0.key.field, delta: $0.value) }
            if !late.isEmpty {
                for k in fields.indices {
                    let c = ShardMerge.Counter(hour: true, bucket: h, field: fields[k].field)
                    if let d = late.removeValue(forKey: c) { fields[k].delta += d }
                }
                for (c, d) in late where c.bucket == h { fields.append((c.field, d)) }
                late = late.filter { $0.key.bucket != h }
            }
            appendHour(h, fields, to: &b, merge: merge, found: found, prefix: hourPrefix)
            counted.append(h)
        }
        // Hours that only folded minutes count in.
        var byHour = [Int64: [(field: Int32, delta: Int64)]]()
        for (c, d) in late { byHour[c.bucket, default: []].append((c.field, d)) }
        for (h, fields) in byHour.sorted(by: { $0.key < $1.key }) {
            appendHour(h, fields, to: &b, merge: merge, found: found, prefix: hourPrefix)
            counted.append(h)
        }
        if !counted.isEmpty {
            b.next(arguments: 3 + 2 * counted.count)
            b.append(n.zadd)
            b.append(layout.hourIndex(s))
            b.append(n.nx)
            for h in counted {
                b.append(decimal: h)
                b.append(decimal: h)
            }
        }
        b.next(arguments: 1)
        b.append(n.exec)
        return b.command(name: "MULTI", key: tag)
    }

    /// One hour key's counts: one `HSET` of all its fields when it is an hour of `hours` found
    /// without a key, else one `HINCRBY` per field.
    private func appendHour(_ h: Int64, _ fields: [(field: Int32, delta: Int64)], to b: inout RESPCommand.Builder, merge: ShardMerge, found: Found, prefix: [UInt8]) {
        let n = Self.names
        if !found.hourKeys.contains(h) && hours.contains(h) {
            b.next(arguments: 2 + 2 * fields.count)
            b.append(n.hset)
            b.append(prefix, decimal: h)
            for f in fields {
                b.append(merge.fieldNames[Int(f.field)])
                b.append(decimal: f.delta)
            }
        } else {
            for f in fields {
                b.next(arguments: 4)
                b.append(n.hincrby)
                b.append(prefix, decimal: h)
                b.append(merge.fieldNames[Int(f.field)])
                b.append(decimal: f.delta)
            }
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
