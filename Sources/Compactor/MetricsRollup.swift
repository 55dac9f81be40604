import Catalog
import ColdStore
import HotTier
import RedisClient
import SegmentFormat
import StrataCore

/// Moves the hot tier's hourly counters to `ticket_metrics` segments once their hour is
/// past the per-minute retention, as a saga of its own (run kind `rollup`,
/// docs/tiering.md "Metrics"):
///
/// 1. select: the hours to move, per shard, from the hour index; recorded in the catalog.
/// 2. rename each hour's hash to a moving key named after the run (atomic, fenced): an
///    event that arrives later for that hour starts a fresh hash, moved by a later run.
/// 3. read the moving keys, write one segment (temporary file, fsync, rename).
/// 4. register it; 5. delete the moving keys (fenced); done.
///
/// A run that crashed before registering is undone: its file removed, its moving keys
/// added back into the hour hashes. One that crashed after has its deletes finished. So
/// every count is, at every instant, in exactly one of: an hour hash, a moving key of an
/// unregistered run, a registered segment.
struct MetricsRollup {
    let compactor: Compactor
    static let kind = MetricRow.rollupRunKind
    /// Hours per script call.
    static let hoursPerCall = 500

    var layout: KeyLayout { compactor.layout }
    var pool: RedisPool { compactor.pool }
    var catalog: Catalog { compactor.catalog }

    /// Hours (per shard) whose counters are due to move: the hour ended before `nowMs - age`.
    /// The first hour not yet due at `nowMs` (hours before it move).
    func cutoffHour(nowMs: Int64) -> Int64 { floorDiv(nowMs - compactor.policy.metricsHotAgeMs, 3_600_000) }

    /// One hour hash: a shard's hour.
    struct ShardHour: Hashable { let shard: Int, hour: Int64 }

    func dueHours(nowMs: Int64) throws -> [(shard: Int, hour: Int64)] {
        let cutoffHour = cutoffHour(nowMs: nowMs)
        let replies = try pool.pipelineBlocking((0..<layout.shards).map {
            ["ZRANGEBYSCORE", layout.hourIndex($0), "-inf", "(\(cutoffHour)"].map { Array($0.utf8) }
        })
        var out = [(shard: Int, hour: Int64)]()
        for (shard, r) in replies.enumerated() {
            guard case .array(let items) = r else { throw RedisError.protocolError("ZRANGEBYSCORE returned \(r)") }
            out += items.compactMap { $0.int }.map { (shard, $0) }
        }
        return out
    }

    /// How many shard hours a run at `nowMs` would move (the dry run): the due hours of the
    /// hour index, and the due hours whose counts are still all in open minutes (the run
    /// folds those minutes first, which makes their hours; with `--metrics-age` under the
    /// minute retention, a due hour can have nothing else).
    func plannedHourCount(nowMs: Int64) throws -> Int {
        var hours = Set(try dueHours(nowMs: nowMs).map { ShardHour(shard: $0.shard, hour: $0.hour) })
        let beforeMinute = cutoffHour(nowMs: nowMs) * 60
        let replies = try pool.pipelineBlocking((0..<layout.shards).map {
            ["ZRANGEBYSCORE", layout.openMinutes($0), "-inf", "(\(beforeMinute)"].map { Array($0.utf8) }
        })
        for (shard, r) in replies.enumerated() {
            guard case .array(let items) = r else { throw RedisError.protocolError("ZRANGEBYSCORE returned \(r)") }
            for minute in items.compactMap(\.int) { hours.insert(ShardHour(shard: shard, hour: floorDiv(Int64(minute), 60))) }
        }
        return hours.count
    }

    func run(lease: Lease, nowMs: Int64, report: inout CompactionReport) throws {
        // The due hours' minutes still open go into their hours first (`MinuteFold`: the
        // daemon folds them a minute after they end; without a daemon they wait for this).
        var options = HotTierOptions()
        options.layout = layout
        try MinuteFold.run(pool: pool, options: options, before: cutoffHour(nowMs: nowMs) * 60)
        let hours = try dueHours(nowMs: nowMs)
        guard !hours.isEmpty else { return }
        var saga = RunSaga(kind: .rollup)
        var executor = RollupRun(compactor: compactor, lease: lease, nowMs: nowMs, hours: hours)
        try saga.drive(&executor, afterStep: compactor.afterStep)
        report.metricHours = hours.count
        report.metricRows = executor.rows
        if let s = executor.staged {
            report.bytes += s.bytes
            report.segments.append(s.finalPath)
        }
    }

    // MARK: Redis

    enum Mode: String { case moveOut = "out", moveBack = "back", drop = "drop" }

    /// KEYS: fence, hour index, the shard's rollup marker (`KeyLayout.rollupDropped`), then
    /// per hour its hash and its moving key. ARGV: token, mode, run, then the hours. An hour
    /// key has no TTL (docs/hot-tier.md): moved back, it is indexed again. Every `drop` call
    /// raises the marker to its run: a Redis holding the marker at a run holds all of that
    /// run's renames on the shard, which came before (`settleSource`).
    static let source = """
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED this compaction run no longer holds the lease') end
    local mode, n = ARGV[2], (#KEYS - 3) / 2
    if mode == 'drop' and (tonumber(redis.call('GET', KEYS[3]) or '0') or 0) < tonumber(ARGV[3]) then redis.call('SET', KEYS[3], ARGV[3]) end
    for i = 1, n do
      local hourKey, moving, hour = KEYS[2 + 2 * i], KEYS[3 + 2 * i], ARGV[3 + i]
      if mode == 'out' then
        if redis.call('EXISTS', hourKey) == 1 then redis.call('RENAME', hourKey, moving) end
        redis.call('ZREM', KEYS[2], hour)
      elseif mode == 'back' then
        local kv = redis.call('HGETALL', moving)
        if #kv > 0 then
          for j = 1, #kv, 2 do redis.call('HINCRBY', hourKey, kv[j], kv[j + 1]) end
          redis.call('ZADD', KEYS[2], hour, hour)
          redis.call('DEL', moving)
        end
      else
        redis.call('DEL', moving)
      end
    end
    return n
    """

    func script(_ mode: Mode, run: Int64, hours: [(shard: Int, hour: Int64)], token: String) throws {
        var commands = [[[UInt8]]]()
        for (shard, mine) in Dictionary(grouping: hours, by: \.shard).sorted(by: { $0.key < $1.key }) {
            for start in stride(from: 0, to: mine.count, by: Self.hoursPerCall) {
                let part = mine[start..<min(start + Self.hoursPerCall, mine.count)]
                var keys = [compactor.fenceKey(shard), layout.hourIndex(shard), layout.rollupDropped(shard)]
                for h in part { keys += [layout.hourMetrics(shard, hour: h.hour), layout.movingHour(shard, run: run, hour: h.hour)] }
                let args = [token, mode.rawValue, String(run)] + part.map { String($0.hour) }
                commands.append((["EVAL", Self.source, String(keys.count)] + keys + args).map { Array($0.utf8) })
            }
        }
        for r in try pool.pipelineBlocking(commands) {
            switch r {
            case .error(let m) where m.hasPrefix("FENCED"): throw CompactionError.fenced(m)
            case .error(let m): throw RedisError.server(command: "EVAL (metrics \(mode.rawValue))", message: m)
            default: continue
            }
        }
    }

    /// The moving keys' counters: as read, per shard and hour (recorded until the run is
    /// settled), and summed per (hour, counter field) over the shards (the segment's rows).
    func readMoving(run: Int64, hours: [(shard: Int, hour: Int64)]) throws -> (rows: [MetricRow], read: [Catalog.MovedCounter]) {
        let replies = try pool.pipelineBlocking(hours.map { ["HGETALL", layout.movingHour($0.shard, run: run, hour: $0.hour)].map { Array($0.utf8) } })
        var sums = [MetricRow.Key: Int64]()
        var read = [Catalog.MovedCounter]()
        for (h, r) in zip(hours, replies) {
            guard case .array(let kv) = r, kv.count % 2 == 0 else { throw RedisError.protocolError("HGETALL returned \(r)") }
            for j in stride(from: 0, to: kv.count, by: 2) {
                guard let field = kv[j].string, let text = kv[j + 1].string, let n = Int64(text) else {
                    throw CompactionError.corrupt("counter hash \(layout.movingHour(h.shard, run: run, hour: h.hour)) has a malformed entry")
                }
                sums[MetricRow.Key(hour: h.hour, field: field), default: 0] += n
                read.append(Catalog.MovedCounter(shard: h.shard, hour: h.hour, field: field, value: n))
            }
        }
        let rows = try sums.sorted { ($0.key.hour, $0.key.field) < ($1.key.hour, $1.key.field) }.map { try MetricRow(key: $0.key, value: $0.value) }
        return (rows, read)
    }

    // MARK: settling (docs/tiering.md, "When Redis loses a run's deletes")

    /// A rollup run done whose shard came back from a Redis without its last writes (the
    /// shard's sentinel behind the run). Per hour of the run on the shard:
    ///
    /// - its moving key still there: the rename held and the drop was lost. Dropped; the
    ///   hour hash holds only counts that arrived after the rename.
    /// - no moving key, and the shard's marker at or past the run (a drop call of the run or
    ///   a later one held, so every rename of the run before it held): the same, nothing to do.
    /// - no moving key and the marker behind: the rename was lost, so the hour hash is back
    ///   with what was moved (or a prefix of it: Redis may have lost counts just before it),
    ///   plus whatever arrived since. Each counter the run moved, `moved`, is taken out of
    ///   it: a field at or below `moved` is removed, one above keeps what is above. Queries
    ///   then count, per field, the greater of what the run moved and what Redis held: never
    ///   a count twice, and never less than Redis kept.
    ///
    /// KEYS: fence, hour index, marker, then per hour its hash and moving key. ARGV: token,
    /// run, then per hour: the hour, its number of counters n, and n pairs (field, moved).
    /// Returns {moving keys dropped, hour hashes that had counts taken out}.
    static let settleSource = """
    if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED this compaction run no longer holds the lease') end
    local renamed = (tonumber(redis.call('GET', KEYS[3]) or '0') or 0) >= tonumber(ARGV[2])
    local dropped, restored, a = 0, 0, 3
    for i = 1, (#KEYS - 3) / 2 do
      local hourKey, moving, hour, n = KEYS[2 + 2 * i], KEYS[3 + 2 * i], ARGV[a], tonumber(ARGV[a + 1])
      if redis.call('DEL', moving) == 1 then
        dropped = dropped + 1
      elseif not renamed and redis.call('EXISTS', hourKey) == 1 then
        restored = restored + 1
        for j = a + 2, a + 2 * n, 2 do
          local field, moved = ARGV[j], tonumber(ARGV[j + 1])
          local held = tonumber(redis.call('HGET', hourKey, field))
          if held then
            if held <= moved then redis.call('HDEL', hourKey, field) else redis.call('HINCRBY', hourKey, field, -moved) end
          end
        end
        if redis.call('EXISTS', hourKey) == 0 then redis.call('ZREM', KEYS[2], hour) end
      end
      a = a + 2 + 2 * n
    end
    return {dropped, restored}
    """

    /// Settles `run` on `shards` (`settleSource`), from the counters it recorded. Returns
    /// how many moving keys were dropped and how many hour hashes had counts taken out.
    func settle(run: Int64, shards: Set<Int>, hours: [(shard: Int, hour: Int64)], counters: [Catalog.MovedCounter],
                token: String) throws -> (dropped: Int, restored: Int) {
        let moved = Dictionary(grouping: counters, by: { ShardHour(shard: $0.shard, hour: $0.hour) })
        var commands = [[[UInt8]]]()
        for (shard, mine) in Dictionary(grouping: hours.filter { shards.contains($0.shard) }, by: \.shard).sorted(by: { $0.key < $1.key }) {
            let withCounters = mine.map { (hour: $0.hour, counters: moved[ShardHour(shard: shard, hour: $0.hour)] ?? []) }
            // Calls of at most `hoursPerCall` hours and about 4 MiB of counters.
            for part in Compactor.parts(withCounters, count: Self.hoursPerCall, bytes: { $0.counters.reduce(24) { $0 + $1.field.utf8.count + 24 } }) {
                var keys = [compactor.fenceKey(shard), layout.hourIndex(shard), layout.rollupDropped(shard)]
                var args = [token, String(run)]
                for h in part {
                    keys += [layout.hourMetrics(shard, hour: h.hour), layout.movingHour(shard, run: run, hour: h.hour)]
                    args += [String(h.hour), String(h.counters.count)]
                    for c in h.counters { args += [c.field, String(c.value)] }
                }
                commands.append((["EVAL", Self.settleSource, String(keys.count)] + keys + args).map { Array($0.utf8) })
            }
        }
        var dropped = 0, restored = 0
        for r in try pool.pipelineBlocking(commands) {
            switch r {
            case .error(let m) where m.hasPrefix("FENCED"): throw CompactionError.fenced(m)
            case .error(let m): throw RedisError.server(command: "EVAL (metrics settle)", message: m)
            case .array(let counts) where counts.count == 2:
                dropped += Int(counts[0].int ?? 0)
                restored += Int(counts[1].int ?? 0)
            default: throw RedisError.protocolError("the metrics settle script returned \(r)")
            }
        }
        return (dropped, restored)
    }
}

