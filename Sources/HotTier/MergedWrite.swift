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
    /// KEYS: [1] change log, [2] hot index directory, [3] hour index, [4] incomplete set, [5]
    ///       open minutes, then the n ticket keys written (ticket i is KEYS[5 + i]), then the
    ///       m keys only compared (tickets the merge took from memory, or merged as absent
    ///       without a read, and left unchanged; and, after them, the shard's moved count when
    ///       the merge rests on it: docs/hot-tier.md, "Tickets not read"), then the counter keys: the minute keys, the hour keys with counts of
    ///       their own, then the hours of minute keys that have none; then the hot index
    ///       bucket keys and the hot index count.
    /// ARGV: [1] n, [2] minute retention s (after the minute ends), [3] reserved, 0 (it was
    ///       the hour-key TTL; hour keys have none, `MergeScript.counterKeyFunctions`), [4] log
    ///       MAXLEN (0 = none), [5] index in KEYS of the first hour key, [6] m; per written
    ///       ticket 2 items: the bytes expected (empty: absent; a stored ticket is never
    ///       empty) and the new bytes; then per compared ticket the bytes expected; then the
    ///       change-log entry (the accepted events' lines joined by '\n', `ChangeLogEntry`;
    ///       empty: none); then the hot index (`HotIndex`; tickets new to it, and those whose
    ///       updated_at moved to an earlier hour): nb, the count key's index in KEYS, and per
    ///       bucket its key's index in KEYS, its number, its least score, c, and c (score, id)
    ///       pairs (`ZADD LT` to the bucket, the least score `ZADD LT` to the directory, the
    ///       tickets new to the buckets `INCRBY` to the count); a and a ids that
    ///       join the incomplete set; r and r ids that leave it; then the counters: gh, the gh
    ///       hours of the hour keys with counts of their own as gh (hour, hour) pairs (their
    ///       `ZADD NX` to the hour index), and per such hour key, in KEYS order from [5], c and
    ///       c (field, increment) pairs; then gm, and per minute key, in KEYS order, its
    ///       hour's index in KEYS, c, and c (field, increment) pairs. A minute's counts go to
    ///       its minute key, and to its hour too when the minute was already folded
    ///       (`MinuteFold`: a late event).
    /// The hot index and incomplete-set lists go to their commands as they are (`unpack`, no
    ///       Lua loop); a new hour key gets all its fields in one `HSET` (the daemon sends each
    ///       field once), an hour key that exists and a minute key one `HINCRBY` per field. The
    ///       hour index lists exactly the hours that have a key (every writer of an hour key
    ///       indexes it in the same script; the compactor renames a key away and unindexes it
    ///       in one), so the `ZADD NX` of a call's hours says at once whether all of them are
    ///       new (the replay: no `EXISTS` at all), none (live traffic), or some (an `EXISTS`
    ///       each). No argument goes through a Lua number on its way (a number is printed back
    ///       with `%.17g`), and a count is read with `+ 0` (one `strtod`; `tonumber` makes two):
    ///       a command called from Lua costs about a microsecond of its own, and an argument a
    ///       fraction of one (docs/hot-tier.md, "The write script").
    /// Reply: an empty array when applied; else the 1-based numbers (written tickets first,
    ///       then compared ones) of the tickets that changed, and nothing was written.
    static let source = #"""
local n, m = ARGV[1] + 0, ARGV[6] + 0
-- ARGV[2], the minute retention, is for MinuteFold: a minute gets it when it is folded.
-- ARGV[3] is reserved (it was the hour-key TTL; hour keys have none).
local maxlen, firstHour = ARGV[4] + 0, ARGV[5] + 0
local CHUNK = 500
\#(MergeScript.counterKeyFunctions)
\#(MergeScript.logAppend)
-- 1. Compare: every ticket as the merge found it (one MGET per 500 tickets).
local stale = {}
for base = 0, n + m - 1, CHUNK do
  local last = math.min(base + CHUNK, n + m)
  local cur = redis.call('MGET', unpack(KEYS, 6 + base, 5 + last))
  for i = base + 1, last do
    local expected
    if i <= n then expected = ARGV[5 + 2 * i] else expected = ARGV[6 + n + i] end
    if (cur[i - base] or '') ~= expected then stale[#stale + 1] = i end
  end
end
if #stale > 0 then return stale end
-- 2. Write: the tickets (MSET, 500 at a time).
for base = 0, n - 1, CHUNK do
  local kv, k = {}, 0
  for i = base + 1, math.min(base + CHUNK, n) do kv[k + 1] = KEYS[5 + i]; kv[k + 2] = ARGV[6 + 2 * i]; k = k + 2 end
  redis.call('MSET', unpack(kv, 1, k))
end
local p = 7 + 2 * n + m
-- 3. The change log: one entry for the call, its accepted events' lines.
local entry = ARGV[p]; p = p + 1
if #entry > 0 then appendLogEntry(entry) end
-- 4. The hot index and the incomplete set: the lists as they came, 1,000 arguments a call.
-- The hot index only lowers a score (LT: a score stays at most the hour of updated_at), in
-- the bucket and in the directory (which so keeps each bucket's least score).
local function spread(command, flag, key, from, count)
  local sum = 0
  for base = from, from + count - 1, 1000 do
    if flag then sum = sum + redis.call(command, key, flag, unpack(ARGV, base, math.min(base + 999, from + count - 1)))
    else sum = sum + redis.call(command, key, unpack(ARGV, base, math.min(base + 999, from + count - 1))) end
  end
  return sum
end
local nb, countKey = ARGV[p] + 0, ARGV[p + 1] + 0; p = p + 2
local added, least = 0, {}
for j = 1, nb do
  local c = ARGV[p + 3] + 0
  added = added + spread('ZADD', 'LT', KEYS[ARGV[p] + 0], p + 4, 2 * c)
  least[#least + 1] = ARGV[p + 2]; least[#least + 1] = ARGV[p + 1]
  p = p + 4 + 2 * c
end
-- Each bucket's least score into the directory: one ZADD for all of them (a command called
-- from Lua costs about a microsecond of its own; a replay's call scores in a dozen buckets).
for base = 1, #least, 1000 do redis.call('ZADD', KEYS[2], 'LT', unpack(least, base, math.min(base + 999, #least))) end
if added > 0 then redis.call('INCRBY', KEYS[countKey], added) end
local a = ARGV[p] + 0; spread('SADD', nil, KEYS[4], p + 1, a); p = p + 1 + a
local r = ARGV[p] + 0; spread('SREM', nil, KEYS[4], p + 1, r); p = p + 1 + r
-- 5. The counters. A new hour key gets its fields in one HSET (a replayed history makes one
-- for about every second event), a key that exists one HINCRBY per field.
local function addCounts(key, new, from, c)
  if new then
    for base = from, from + 2 * c - 1, 1000 do redis.call('HSET', key, unpack(ARGV, base, math.min(base + 999, from + 2 * c - 1))) end
  else
    for q = from, from + 2 * c - 1, 2 do redis.call('HINCRBY', key, ARGV[q], ARGV[q + 1]) end
  end
end
-- Hour keys with counts of their own, first (a late minute below may add to them). The hour
-- index lists exactly the hours that have a key, so one ZADD NX of their hours says whether
-- all are new, none, or some (then an EXISTS each).
local gh = ARGV[p] + 0; p = p + 1
local fresh = gh > 0 and spread('ZADD', 'NX', KEYS[3], p, 2 * gh) or 0
p = p + 2 * gh
for j = 1, gh do
  local key, c = KEYS[firstHour + j - 1], ARGV[p] + 0
  local new = fresh == gh
  if fresh > 0 and fresh < gh then new = redis.call('EXISTS', key) == 0 end
  addCounts(key, new, p + 1, c)
  p = p + 1 + 2 * c
end
-- Minute keys; a minute already folded counts in its hour too.
local gm = ARGV[p] + 0; p = p + 1
for j = 1, gm do
  local ki, hi, c = 5 + n + m + j, ARGV[p] + 0, ARGV[p + 1] + 0
  local folded = minuteFolded(ki)
  addCounts(KEYS[ki], false, p + 2, c)
  if folded then
    local hourKey = KEYS[hi]
    if redis.call('EXISTS', hourKey) == 0 then addCounts(hourKey, true, p + 2, c); indexNewHour(hi)
    else addCounts(hourKey, false, p + 2, c) end
  end
  p = p + 2 + 2 * c
end
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
    /// is `merge.writes()`, encoded once by the caller. Built straight into its RESP bytes.
    ///
    /// `movedCount`: the shard's moved count the merge rests on (it merged tickets it did not
    /// read as absent), compared like a ticket, after the compared ones.
    func command(sha: String, merge: ShardMerge, writes: [ShardMerge.Write], compared: [Int64] = [], stored: [Int64: [UInt8]],
                 movedCount: [UInt8]? = nil, options: HotTierOptions) -> RESPCommand {
        let layout = options.layout
        // Minute keys, then hour keys (the script tells them apart by position), each key's
        // fields together; every minute's hour is a key too (a late event counts there).
        // One sorted array, each key's fields a run in it (a dictionary of arrays was an
        // allocation per key and per growth).
        let counters = merge.counters.sorted { ($0.key.hour ? 1 : 0, $0.key.bucket) < ($1.key.hour ? 1 : 0, $1.key.bucket) }
        var runs = [(hour: Bool, bucket: Int64, range: Range<Int>)]()
        for (k, c) in counters.enumerated() {
            if let last = runs.last, last.hour == c.key.hour, last.bucket == c.key.bucket { runs[runs.count - 1].range = last.range.lowerBound..<(k + 1) }
            else { runs.append((c.key.hour, c.key.bucket, k..<(k + 1))) }
        }
        let minutes = runs.filter { !$0.hour }.map(\.bucket)
        // Hour keys: those with counts of their own (the script indexes them with one ZADD NX),
        // then the hours of minute keys that have none (written only if a minute was folded).
        let ownHours = runs.filter(\.hour).map(\.bucket)
        let own = Set(ownHours)
        let hours = ownHours + Set(minutes.map { floorDiv($0, 60) }).subtracting(own).sorted()
        // The hot index: the tickets it scores, each bucket's together, with its least score.
        var scored = writes.filter { $0.indexScore != nil }
        scored.sort { layout.hotIndexBucket(of: $0.id) < layout.hotIndexBucket(of: $1.id) }
        var buckets = [(bucket: Int64, least: Int, range: Range<Int>)]()
        for (k, w) in scored.enumerated() {
            let b = layout.hotIndexBucket(of: w.id)
            if let last = buckets.last, last.bucket == b {
                let least = Self.numeric(w.indexScore!) < Self.numeric(scored[last.least].indexScore!) ? k : last.least
                buckets[buckets.count - 1] = (b, least, last.range.lowerBound..<(k + 1))
            } else {
                buckets.append((b, k, k..<(k + 1)))
            }
        }
        let joining = writes.filter(\.incomplete), leaving = writes.filter { !$0.incomplete && $0.wasIncomplete }
        let extra = movedCount == nil ? 0 : 1  // the moved count, compared as the last "ticket"
        let tickets = 5 + writes.count + compared.count + extra
        let firstHour = tickets + minutes.count + 1
        var hourIndex = [Int64: Int]()
        for (k, h) in hours.enumerated() { hourIndex[h] = firstHour + k }
        let firstBucket = tickets + minutes.count + hours.count + 1
        let keyCount = tickets + minutes.count + hours.count + (buckets.isEmpty ? 0 : buckets.count + 1)
        let arguments = 3 + keyCount + 6 + 2 * writes.count + compared.count + extra + 1 + (2 + 4 * buckets.count + 2 * scored.count) + (1 + joining.count)
            + (1 + leaving.count) + 2 + 2 * ownHours.count + runs.count + minutes.count + 2 * merge.counters.count
        var bytes = merge.logEntry.count + 16 + 48 * merge.counters.count
        for w in writes { bytes += 2 * w.blob.count + 64 }
        for id in compared { bytes += (stored[id]?.count ?? 0) + 32 }
        bytes += (movedCount?.count ?? 0) + 48
        var b = RESPCommand.Builder(arguments: arguments, capacity: bytes)
        b.append(Self.evalsha)
        b.append(sha)
        b.append(decimal: Int64(keyCount))
        // KEYS
        let log = Array(layout.changeLog(shard).utf8)
        b.append(log)
        b.append(layout.hotIndexDirectory(shard))
        b.append(layout.hourIndex(shard))
        b.append(layout.incomplete(shard))
        b.append(layout.openMinutes(shard))
        let tag = Array(layout.ticketKeyPrefix(shard).utf8)  // every ticket key of the shard: the tag, then the id
        for w in writes { b.append(tag, decimal: w.id) }
        for id in compared { b.append(tag, decimal: id) }
        if movedCount != nil { b.append(layout.movedCount(shard)) }
        let minutePrefix = Array(layout.minuteMetrics(shard, minute: 0).utf8.dropLast())  // the key without its number
        let hourPrefix = Array(layout.hourMetrics(shard, hour: 0).utf8.dropLast())
        for m in minutes { b.append(minutePrefix, decimal: m) }
        for h in hours { b.append(hourPrefix, decimal: h) }
        if !buckets.isEmpty {
            for run in buckets { b.append(layout.hotIndexBucket(shard, bucket: run.bucket)) }
            b.append(layout.hotIndexCount(shard))
        }
        // ARGV
        b.append(decimal: Int64(writes.count))
        b.append(decimal: Int64(options.minuteRetentionSeconds))
        b.append(decimal: 0)  // reserved (it was the hour-key TTL)
        b.append(decimal: Int64(options.changeLogMaxLength))
        b.append(decimal: Int64(firstHour))
        b.append(decimal: Int64(compared.count + extra))
        for w in writes {
            b.append(stored[w.id] ?? [])
            b.append(w.blob)
        }
        for id in compared { b.append(stored[id] ?? []) }  // absent: a ticket merged as absent without a read
        if let movedCount { b.append(movedCount) }
        b.append(merge.logEntry)
        b.append(decimal: Int64(buckets.count))
        b.append(decimal: Int64(buckets.isEmpty ? 0 : firstBucket + buckets.count))
        for (k, run) in buckets.enumerated() {
            b.append(decimal: Int64(firstBucket + k))
            b.append(decimal: run.bucket)
            b.append(scored[run.least].indexScore!)
            b.append(decimal: Int64(run.range.count))
            for w in scored[run.range] {
                b.append(w.indexScore!)
                b.append(decimal: w.id)
            }
        }
        b.append(decimal: Int64(joining.count))
        for w in joining { b.append(decimal: w.id) }
        b.append(decimal: Int64(leaving.count))
        for w in leaving { b.append(decimal: w.id) }
        // Hour keys with counts of their own (the sort put them after the minutes): their
        // hours for the ZADD NX, then their counts, in KEYS order.
        let hourRuns = runs.filter(\.hour), minuteRuns = runs.filter { !$0.hour }
        b.append(decimal: Int64(hourRuns.count))
        for run in hourRuns {
            b.append(decimal: run.bucket)
            b.append(decimal: run.bucket)
        }
        for run in hourRuns {
            b.append(decimal: Int64(run.range.count))
            for (c, delta) in counters[run.range] {
                b.append(merge.field(c))
                b.append(decimal: delta)
            }
        }
        b.append(decimal: Int64(minuteRuns.count))
        for run in minuteRuns {
            b.append(decimal: Int64(hourIndex[floorDiv(run.bucket, 60)]!))
            b.append(decimal: Int64(run.range.count))
            for (c, delta) in counters[run.range] {
                b.append(merge.field(c))
                b.append(decimal: delta)
            }
        }
        return b.command(name: "EVALSHA", key: log)
    }

    static let evalsha = Array("EVALSHA".utf8)

    /// A hot index score's value, to find a bucket's least (a score is decimal digits).
    static func numeric(_ score: [UInt8]) -> Double { Double(String(decoding: score, as: UTF8.self)) ?? 0 }
}

/// One shard's write script call in a round, and the outcomes its events get if it applies.
/// (A struct, not a tuple: an array of tuples is destroyed element by element through the
/// runtime's generic tuple witness.)
struct ShardCall {
    let write: ShardWrite
    let outcomes: [ApplyOutcome]
    let command: RESPCommand
}

extension HotTier {
    /// Rounds of read, merge and conditional write before a shard's batch goes through the
    /// merge script instead (which merges atomically in Redis, and so always makes progress).
    static let maxMergedAttempts = 4
    static let mget = Array("MGET".utf8)

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
    ///
    /// A ticket not in memory whose events here include its create is not read when the
    /// shard's moved count is known and the cold tier cannot hold it: it is merged as absent,
    /// and the write compares it with absent and the moved count with what was last read
    /// (docs/hot-tier.md, "Tickets not read"). A single new ticket so costs one round trip.
    func applyMerged(_ events: [TicketEvent], checkCold: Bool, cold: (any ColdTicketSource)? = nil) async throws -> [ApplyOutcome] {
        guard !events.isEmpty else { return [] }
        var outcomes = [ApplyOutcome](repeating: .alreadyKnown, count: events.count)
        var pending = shardWrites(events)
        var readAll = Set<Int>()  // shards whose tickets are all read (a merge as absent wrote nothing)
        let layout = options.layout
        let firstMinute = options.firstRetainedMinute(nowMs: wallClockMilliseconds())
        for _ in 0..<Self.maxMergedAttempts {
            guard !pending.isEmpty else { break }
            let sha = try await writeScriptSHA()
            await mergeTurn.acquire()
            var merging = true
            defer { if merging { mergeTurn.release() } }
            // 1. Read what is not in memory: one MGET per shard, all in one round trip, with
            //    the shard's moved count. Tickets created here in a shard whose moved count is
            //    known, and that the cold tier cannot hold, are merged as absent, not read.
            let known = written.lookup(pending.flatMap(\.ids))
            let moved = movedCounts.withLock { $0 }
            var misses = [[Int64]](), unread = [[Int64]]()
            for w in pending {
                let missing = w.ids.filter { known[$0] == nil }
                guard moved[w.shard] != nil, !readAll.contains(w.shard), !checkCold || cold != nil else {
                    misses.append(missing); unread.append([]); continue
                }
                var created = Set<Int64>()
                for i in w.events where events[i].op == .create { created.insert(events[i].id) }
                var absent = missing.filter { created.contains($0) }
                if checkCold, let cold, !absent.isEmpty {
                    let mayBe = try cold.mayHold(absent)
                    absent = absent.filter { !mayBe.contains($0) }
                }
                let notRead = Set(absent)
                misses.append(missing.filter { !notRead.contains($0) }); unread.append(absent)
            }
            let reading = pending.indices.filter { !misses[$0].isEmpty }
            let reads = reading.isEmpty ? [] : try await pool.pipeline(reading.map { k in
                // Each key written as the shard's prefix and the id (no String per key).
                let tag = Array(layout.ticketKeyPrefix(pending[k].shard).utf8)
                var b = RESPCommand.Builder(arguments: 2 + misses[k].count, capacity: misses[k].count * (tag.count + 24) + 32)
                b.append(Self.mget)
                for id in misses[k] { b.append(tag, decimal: id) }
                b.append(layout.movedCount(pending[k].shard))
                return b.command(name: "MGET", key: tag)
            })
            var replyOf = [Int: RESPValue]()
            for (k, r) in zip(reading, reads) { replyOf[k] = r }
            // 2. Merge each shard over what it found.
            var calls = [ShardCall]()
            var toRemember = [(id: Int64, blob: [UInt8])]()
            var again = [ShardWrite]()
            var storedByShard = [[Int64: [UInt8]]]()
            var rememberedByShard = [[Int64]]()
            var movedNow = moved  // what each shard's moved count was last seen to be, this read included
            for (k, w) in pending.enumerated() {
                var stored = [Int64: [UInt8]]()
                var remembered = [Int64]()
                for id in w.ids { if let b = known[id] { stored[id] = b; remembered.append(id) } }
                if let reply = replyOf[k] {
                    guard case .array(let values) = reply, values.count == misses[k].count + 1 else {
                        if case .error(let m) = reply { throw RedisError.server(command: "MGET", message: m) }
                        throw RedisError.protocolError("MGET returned \(reply)")
                    }
                    switch values[values.count - 1] {
                    case .bulk(let b): movedNow[w.shard] = b
                    case .null: movedNow[w.shard] = []
                    default: throw RedisError.protocolError("MGET returned \(values[values.count - 1]) for \(layout.movedCount(w.shard))")
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
            movedCounts.withLock { table in for (shard, count) in movedNow { table[shard] = count } }
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
                let compared = (remembered + unread[k]).filter { !dirty.contains($0) }
                if writes.isEmpty {
                    if remembered.isEmpty && unread[k].isEmpty {
                        // Nothing to write (repeats, refusals, tickets not hot): answered from the read.
                        for (i, o) in zip(w.events, merge.outcomes) { outcomes[i] = o }
                    } else {
                        written.drop(remembered)  // confirm them: read them again
                        readAll.insert(w.shard)
                        again.append(w)
                    }
                    continue
                }
                calls.append(ShardCall(write: w, outcomes: merge.outcomes,
                                       command: w.command(sha: sha, merge: merge, writes: writes, compared: compared, stored: stored,
                                                          movedCount: unread[k].isEmpty ? nil : movedNow[w.shard], options: options)))
                for x in writes { toRemember.append((x.id, x.blob)) }
            }
            // The next round merges over these writes (from memory) while they are sent.
            written.store(toRemember)
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
                    for (i, o) in zip(call.write.events, call.outcomes) { outcomes[i] = o }
                    mergedStats.writes.add(1, ordering: .relaxed)
                case .array:
                    mergedStats.conflicts.add(1, ordering: .relaxed)
                    written.drop(call.write.ids)
                    movedCounts.withLock { _ = $0.removeValue(forKey: call.write.shard) }  // read it again too
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
