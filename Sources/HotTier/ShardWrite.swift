import RedisClient
import StrataCore

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
        let reopened = writes.filter(\.reopened)
        let extra = movedCount == nil ? 0 : 1  // the moved count, compared as the last "ticket"
        let tickets = 5 + writes.count + compared.count + extra
        let firstHour = tickets + minutes.count + 1
        var hourIndex = [Int64: Int]()
        for (k, h) in hours.enumerated() { hourIndex[h] = firstHour + k }
        let firstBucket = tickets + minutes.count + hours.count + 1
        let keyCount = tickets + minutes.count + hours.count + (buckets.isEmpty ? 0 : buckets.count + 1) + 2  // + the reopened set, the compaction mark
        let arguments = 3 + keyCount + 6 + 2 * writes.count + compared.count + extra + 1 + (2 + 4 * buckets.count + 2 * scored.count) + (1 + joining.count)
            + (1 + leaving.count) + (1 + reopened.count) + 2 + 2 * ownHours.count + runs.count + minutes.count + 2 * merge.counters.count
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
        b.append(layout.reopened(shard))
        b.append(layout.compactionMark(shard))
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
        b.append(decimal: Int64(reopened.count))
        for w in reopened { b.append(decimal: w.id) }
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
