import RedisClient
import StrataCore
import Synchronization

/// The write path that merges in the daemon (docs/hot-tier.md, "Merging in the daemon"):
/// per shard, the batch's tickets are read (one `MGET`, all calls pipelined), merged in Swift
/// (`ShardMerge`, the script's rule), and written back by `WriteScript` only if every one of
/// them is still what was read; a shard whose tickets changed meanwhile (another daemon, the
/// compactor) is read and merged again. Redis keeps only what must be atomic: the compare,
/// the writes, the log appends and the counters of one shard, in one script call.
enum WriteScript {
    /// KEYS: [1] change log, [2] hot index, [3] hour index, [4] incomplete set, then the
    ///       n ticket keys written (ticket i is KEYS[4 + i]), then the m ticket keys only
    ///       compared (tickets the merge took from memory and left unchanged), then the
    ///       counter keys.
    /// ARGV: [1] n, [2] minute retention s (after the minute ends), [3] hour-key TTL s, [4] log
    ///       MAXLEN (0 = none), [5] index in KEYS of the first hour key, [6] m; per written
    ///       ticket 6 items: expected ('a' absent, 'p' present), the bytes expected (when
    ///       present), the new bytes, the id, its incomplete-set change ('+' add, '-' remove,
    ///       '' none), the hot index score ('' none); then per compared ticket the bytes
    ///       expected; then the change-log entry (the accepted events' lines joined by '\n',
    ///       `ChangeLogEntry`; empty: none); then the counter count and per counter (key
    ///       index, field, increment).
    /// Reply: an empty array when applied; else the 1-based numbers (written tickets first,
    ///       then compared ones) of the tickets that changed, and nothing was written.
    static let source = #"""
local n, m = tonumber(ARGV[1]), tonumber(ARGV[6])
local minuteTTL, hourTTL, maxlen, firstHour = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local CHUNK = 500
\#(MergeScript.counterKeyRetention)
\#(MergeScript.logAppend)
-- 1. Compare: every ticket as the merge found it (one MGET per 500 tickets).
local stale = {}
for base = 0, n + m - 1, CHUNK do
  local last = math.min(base + CHUNK, n + m)
  local keys = {}
  for i = base + 1, last do keys[#keys + 1] = KEYS[4 + i] end
  local cur = redis.call('MGET', unpack(keys))
  for i = base + 1, last do
    local now = cur[i - base]
    if i <= n then
      local p = 7 + 6 * (i - 1)
      if ARGV[p] == 'a' then
        if now then stale[#stale + 1] = i end
      elseif now ~= ARGV[p + 1] then
        stale[#stale + 1] = i
      end
    elseif now ~= ARGV[7 + 6 * n + (i - n - 1)] then
      stale[#stale + 1] = i
    end
  end
end
if #stale > 0 then return stale end
-- 2. Write: the tickets (MSET), the hot index (ZADD), the incomplete set, 500 at a time.
for base = 0, n - 1, CHUNK do
  local last = math.min(base + CHUNK, n)
  local kv, scores, add, remove = {}, {}, {}, {}
  for i = base + 1, last do
    local p = 7 + 6 * (i - 1)
    kv[#kv + 1] = KEYS[4 + i]; kv[#kv + 1] = ARGV[p + 2]
    local id, change, score = ARGV[p + 3], ARGV[p + 4], ARGV[p + 5]
    if change == '+' then add[#add + 1] = id elseif change == '-' then remove[#remove + 1] = id end
    if score ~= '' then scores[#scores + 1] = score; scores[#scores + 1] = id end
  end
  if #kv > 0 then redis.call('MSET', unpack(kv)) end
  if #scores > 0 then redis.call('ZADD', KEYS[2], unpack(scores)) end
  if #add > 0 then redis.call('SADD', KEYS[4], unpack(add)) end
  if #remove > 0 then redis.call('SREM', KEYS[4], unpack(remove)) end
end
local p = 7 + 6 * n + m
-- 3. The change log: one entry for the call, its accepted events' lines.
local entry = ARGV[p]; p = p + 1
if #entry > 0 then appendLogEntry(entry) end
local nc = tonumber(ARGV[p]); p = p + 1
local fresh = {}
for j = 1, nc do
  local ki, delta = tonumber(ARGV[p]), tonumber(ARGV[p + 2])
  if redis.call('HINCRBY', KEYS[ki], ARGV[p + 1], delta) == delta then fresh[ki] = true end
  p = p + 3
end
-- A new key necessarily gets a new field: set its retention then, once.
for ki in pairs(fresh) do retainCounterKey(ki) end
indexFreshHours()
return {}
"""#
}

/// Counts of the merged write path, for `/metrics`.
public final class MergedWriteStats: Sendable {
    /// Shard batches written by the write script.
    public let writes = Atomic<Int>(0)
    /// Shard batches whose tickets changed between the read and the write (read and merged again).
    public let conflicts = Atomic<Int>(0)
    /// Shard batches that lost the race `MergedWrite.maxAttempts` times and went through the
    /// merge script instead.
    public let fallbacks = Atomic<Int>(0)
    public init() {}
}

/// One shard's part of a merged write: its events, the tickets they touch, the merge of
/// them over what was read, and the script call that writes it.
struct ShardWrite {
    let shard: Int
    /// Indices into the request's events, in order.
    let events: [Int]
    /// The distinct tickets, in the order the events first touch them.
    let ids: [Int64]

    /// The write script's call for `merge` over the tickets as read (`stored`); `writes`
    /// is `merge.writes()`, encoded once by the caller.
    func command(sha: String, merge: ShardMerge, writes: [ShardMerge.Write], compared: [Int64] = [], stored: [Int64: [UInt8]], options: HotTierOptions) -> [[UInt8]] {
        let layout = options.layout
        let digits = DecimalInteger.digits
        var keys: [[UInt8]] = [layout.changeLog(shard), layout.hotIndex(shard), layout.hourIndex(shard), layout.incomplete(shard)].map { Array($0.utf8) }
        keys.reserveCapacity(4 + writes.count + compared.count + merge.counters.count)
        var args: [[UInt8]] = []
        args.reserveCapacity(8 + 6 * writes.count + compared.count + 1 + 3 * merge.counters.count)
        let tag = Array((layout.tag(shard) + ":t:").utf8)  // every ticket key of the shard: the tag, then the id
        for w in writes {
            var key = tag
            DecimalInteger.append(w.id, to: &key)
            keys.append(key)
            if let old = stored[w.id] { args.append(Self.present); args.append(old) } else { args.append(Self.absent); args.append([]) }
            args.append(w.blob)
            args.append(digits(w.id))
            args.append(w.incomplete ? Self.add : (w.wasIncomplete ? Self.remove : []))
            switch w.updatedAt {
            case .null: args.append([])
            case .integer(let n): args.append(digits(n))
            case .bytes(let b): args.append(Array(b))
            }
        }
        for id in compared {
            var key = tag
            DecimalInteger.append(id, to: &key)
            keys.append(key)
            args.append(stored[id]!)
        }
        args.append(ChangeLogEntry.text(merge.log))
        // Minute keys, then hour keys (the script tells their retention apart by position).
        let counters = merge.counters.sorted { ($0.key.hour ? 1 : 0, $0.key.bucket) < ($1.key.hour ? 1 : 0, $1.key.bucket) }
        var keyIndex = [ShardMerge.Counter: Int]()  // by (hour, bucket), field empty
        var firstHour = keys.count + 1
        var counterArgs: [[UInt8]] = []
        counterArgs.reserveCapacity(3 * counters.count)
        for (c, delta) in counters {
            let bucket = ShardMerge.Counter(hour: c.hour, bucket: c.bucket, field: [])
            let k: Int
            if let known = keyIndex[bucket] { k = known } else {
                let key = c.hour ? layout.hourMetrics(shard, hour: c.bucket) : layout.minuteMetrics(shard, minute: c.bucket)
                keys.append(Array(key.utf8))
                k = keys.count
                keyIndex[bucket] = k
            }
            if !c.hour { firstHour = keys.count + 1 }
            counterArgs.append(digits(Int64(k))); counterArgs.append(c.field); counterArgs.append(digits(delta))
        }
        args.append(digits(Int64(counters.count)))
        args += counterArgs
        var command: [[UInt8]] = [Self.evalsha, Array(sha.utf8), digits(Int64(keys.count))]
        command.reserveCapacity(3 + keys.count + 5 + args.count)
        command += keys
        command += [digits(Int64(writes.count)), digits(Int64(options.minuteRetentionSeconds)),
                    digits(Int64(options.hourRetentionSeconds)), digits(Int64(options.changeLogMaxLength)), digits(Int64(firstHour)),
                    digits(Int64(compared.count))]
        command += args
        return command
    }

    static let evalsha = Array("EVALSHA".utf8), present: [UInt8] = [0x70], absent: [UInt8] = [0x61]
    static let add: [UInt8] = [0x2B], remove: [UInt8] = [0x2D]
}

extension HotTier {
    /// Rounds of read, merge and conditional write before a shard's batch goes through the
    /// merge script instead (which merges atomically in Redis, and so always makes progress).
    static let maxMergedAttempts = 4

    /// The shards of `events`: each shard's events in order, and its tickets.
    func shardWrites(_ events: [TicketEvent]) -> [ShardWrite] {
        let layout = options.layout
        var byShard = [Int: [Int]]()
        for (i, e) in events.enumerated() { byShard[layout.shard(of: e.id), default: []].append(i) }
        return byShard.sorted { $0.key < $1.key }.map { shard, indices in
            var seen = Set<Int64>(), ids = [Int64]()
            for i in indices where seen.insert(events[i].id).inserted { ids.append(events[i].id) }
            return ShardWrite(shard: shard, events: indices, ids: ids)
        }
    }

    /// Applies events by merging in the daemon: per shard, read, merge, write if unchanged;
    /// the shards that lost a race are read again. Returns each event's outcome.
    ///
    /// Tickets this daemon wrote a moment ago are merged over the bytes it wrote
    /// (`written`) instead of being read; the write script compares them like the rest, and
    /// a shard that lost a race forgets them and reads them. Rounds send their writes one
    /// at a time (`writeTurn`), in the order they got there, so that a round that merged
    /// over an earlier round's pending writes reaches Redis after them.
    ///
    /// With `cold` (and `checkCold`), a ticket absent from Redis is answered "not hot" only
    /// if the cold tier may hold it, asked after the read that found it absent: a compaction
    /// run deletes a ticket from Redis only after registering the segment that holds it, so
    /// a ticket moved before the read is seen by the check, and one moved after it was
    /// present at the read, and the write's compare fails. New tickets are then merged in
    /// this round, not sent round again by `apply(_:cold:)`.
    func applyMerged(_ events: [TicketEvent], checkCold: Bool, cold: (any ColdTicketSource)? = nil) async throws -> [ApplyOutcome] {
        guard !events.isEmpty else { return [] }
        var outcomes = [ApplyOutcome](repeating: .alreadyKnown, count: events.count)
        var pending = shardWrites(events)
        let layout = options.layout
        let firstMinute = options.firstRetainedMinute(nowMs: wallClockMilliseconds())
        for _ in 0..<Self.maxMergedAttempts {
            guard !pending.isEmpty else { break }
            let sha = try await writeScriptSHA()
            await mergeTurn.acquire()
            var merging = true
            defer { if merging { mergeTurn.release() } }
            // 1. Read what is not in memory: one MGET per shard, all in one round trip.
            let known = written.lookup(pending.flatMap(\.ids))
            let misses = pending.map { w in w.ids.filter { known[$0] == nil } }
            let reading = pending.indices.filter { !misses[$0].isEmpty }
            let reads = reading.isEmpty ? [] : try await pool.pipeline(reading.map { k in
                [Array("MGET".utf8)] + misses[k].map { Array(layout.ticket($0).utf8) }
            })
            var replyOf = [Int: RESPValue]()
            for (k, r) in zip(reading, reads) { replyOf[k] = r }
            // 2. Merge each shard over what it found.
            var calls = [(write: ShardWrite, merge: ShardMerge, writes: [ShardMerge.Write], command: [[UInt8]])]()
            var again = [ShardWrite]()
            var storedByShard = [[Int64: [UInt8]]]()
            var rememberedByShard = [[Int64]]()
            for (k, w) in pending.enumerated() {
                var stored = [Int64: [UInt8]]()
                var remembered = [Int64]()
                for id in w.ids { if let b = known[id] { stored[id] = b; remembered.append(id) } }
                if let reply = replyOf[k] {
                    guard case .array(let values) = reply, values.count == misses[k].count else {
                        if case .error(let m) = reply { throw RedisError.server(command: "MGET", message: m) }
                        throw RedisError.protocolError("MGET returned \(reply)")
                    }
                    for (id, v) in zip(misses[k], values) {
                        switch v {
                        case .bulk(let b): stored[id] = b
                        case .null: continue
                        default: throw RedisError.protocolError("MGET returned \(v) for ticket \(id)")
                        }
                    }
                }
                storedByShard.append(stored)
                rememberedByShard.append(remembered)
            }
            // Which absent tickets may be cold, in one look at the catalog, after the read
            // (without a cold source to ask: all of them).
            var mayBeCold: Set<Int64>? = nil
            if checkCold, let cold {
                mayBeCold = try cold.mayHold(pending.indices.flatMap { k in pending[k].ids.filter { storedByShard[k][$0] == nil } })
            }
            for (k, w) in pending.enumerated() {
                let stored = storedByShard[k], remembered = rememberedByShard[k]
                var merge = ShardMerge(firstMinute: firstMinute)
                do {
                    for i in w.events {
                        let e = events[i]
                        try merge.apply(e, checkCold: checkCold && (mayBeCold?.contains(e.id) ?? true)) { stored[$0] }
                    }
                } catch let e as MsgPackError {
                    written.drop(w.ids)
                    throw CorruptHotData("a stored ticket of shard \(w.shard) cannot be read: \(e)")
                }
                let writes = merge.writes()
                // What came from memory and is not written is compared too: the outcomes of its
                // events (repeats, say) rest on it.
                let dirty = Set(writes.map(\.id))
                let compared = remembered.filter { !dirty.contains($0) }
                if writes.isEmpty {
                    if remembered.isEmpty {
                        // Nothing to write (repeats, refusals, tickets not hot): answered from the read.
                        for (i, o) in zip(w.events, merge.outcomes) { outcomes[i] = o }
                    } else {
                        written.drop(remembered)  // confirm them: read them again
                        again.append(w)
                    }
                    continue
                }
                calls.append((w, merge, writes, w.command(sha: sha, merge: merge, writes: writes, compared: compared, stored: stored, options: options)))
            }
            // The next round merges over these writes (from memory) while they are sent.
            written.store(calls.flatMap { c in c.writes.map { ($0.id, $0.blob) } })
            await writeTurn.acquire()
            merging = false
            mergeTurn.release()
            if let hook = betweenReadAndWrite.withLock({ $0 }) {
                do { try await hook() } catch { writeTurn.release(); throw error }
            }
            // 3. Write each shard's merge, if its tickets are unchanged: one round at a time.
            var replies = [RESPValue]()
            if calls.isEmpty { writeTurn.release() } else {
                do {
                    replies = try await pool.pipeline(calls.map(\.command))
                    writeTurn.release()
                } catch {
                    writeTurn.release()
                    written.drop(calls.flatMap(\.write.ids))
                    throw error
                }
            }
            for (call, reply) in zip(calls, replies) {
                switch reply {
                case .array(let stale) where stale.isEmpty:
                    for (i, o) in zip(call.write.events, call.merge.outcomes) { outcomes[i] = o }
                    mergedStats.writes.add(1, ordering: .relaxed)
                case .array:
                    mergedStats.conflicts.add(1, ordering: .relaxed)
                    written.drop(call.write.ids)
                    again.append(call.write)
                case .error(let m) where m.hasPrefix("NOSCRIPT"):
                    writeSHA.withLock { $0 = nil }
                    written.drop(call.write.ids)
                    again.append(call.write)
                case .error(let m):
                    written.drop(calls.flatMap(\.write.ids))
                    throw RedisError.server(command: "EVALSHA (write)", message: m)
                default:
                    written.drop(calls.flatMap(\.write.ids))
                    throw RedisError.protocolError("write script returned \(reply)")
                }
            }
            pending = again.sorted { $0.shard < $1.shard }
        }
        // Shards that kept losing the race: the merge script, atomic in Redis, always progresses.
        if !pending.isEmpty {
            mergedStats.fallbacks.add(pending.count, ordering: .relaxed)
            written.drop(pending.flatMap(\.ids))
            let rest = pending.flatMap(\.events).sorted()
            let done = try await applyByScript(rest.map { events[$0] }, checkCold: checkCold)
            for (i, o) in zip(rest, done) { outcomes[i] = o }
        }
        return outcomes
    }

    func writeScriptSHA() async throws -> String {
        if let s = writeSHA.withLock({ $0 }) { return s }
        let reply = try await pool.command(["SCRIPT", "LOAD", WriteScript.source])
        guard let s = reply.string else { throw RedisError.protocolError("SCRIPT LOAD returned \(reply)") }
        writeSHA.withLock { $0 = s }
        return s
    }
}
