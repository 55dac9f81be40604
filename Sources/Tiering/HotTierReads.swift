import HotTier
import RedisClient
import StrataCore

/// What the read path (queries, the hot-ticket cache, the compactor's selection) reads from
/// the hot tier: stored tickets and change-log entries, in pipelined round trips.
public struct HotTierReads: Sendable {
    public let pool: RedisPool
    public let layout: KeyLayout

    public init(pool: RedisPool, layout: KeyLayout) {
        self.pool = pool
        self.layout = layout
    }

    /// The stored arrays of one shard's tickets, handed to `body` (each one's position in
    /// `ids`, its bytes or nil where the key is missing) one MGET of `mgetKeys` at a time, as
    /// each reply is read: the caller decodes one while Redis runs the next (a migration's
    /// read of a shard, `Compactor.gather`). `ids` must all be of `shard`.
    public func forEachBlob(shard: Int, _ ids: [Int64], _ body: (Int, [UInt8]?) throws -> Void) throws {
        guard !ids.isEmpty else { return }
        let prefix = Array(layout.ticketKeyPrefix(shard).utf8)
        var commands = [RESPCommand](), positions = [Range<Int>]()
        for start in stride(from: 0, to: ids.count, by: Self.mgetKeys) {
            let part = start..<min(start + Self.mgetKeys, ids.count)
            var b = RESPCommand.Builder(arguments: 1 + part.count, capacity: (prefix.count + 20) * part.count)
            b.append("MGET")
            for k in part {
                precondition(layout.shard(of: ids[k]) == shard, "ticket \(ids[k]) is not of shard \(shard)")
                b.append(prefix, decimal: ids[k])
            }
            commands.append(b.command(name: "MGET", key: prefix))
            positions.append(part)
        }
        try pool.pipelineBlocking(commands) { i, reply in
            try Self.eachValue(of: reply, part: positions[i], body)
        }
    }

    /// The values of one MGET's reply, each with its position (`part`, in order).
    static func eachValue<P: Collection<Int>>(of reply: RESPValue, part: P, _ body: (Int, [UInt8]?) throws -> Void) throws {
        if case .error(let e) = reply { throw RedisError.server(command: "MGET", message: e) }
        guard let items = reply.array, items.count == part.count else {
            throw RedisError.protocolError("MGET of \(part.count) keys answered \(reply)")
        }
        for (k, item) in zip(part, items) {
            switch item {
            case .bulk(let b): try body(k, b)
            case .null: try body(k, nil)
            default: throw RedisError.protocolError("MGET answered \(item) for a ticket key")
            }
        }
    }

    /// The stored arrays of the tickets (nil where a key is missing), in the order of `ids`:
    /// one MGET per shard and up to `mgetKeys` keys (a shard's keys share a hash tag, so
    /// this holds on Redis Cluster too), those MGETs pipelined in one round trip.
    public func blobs(_ ids: [Int64]) throws -> [[UInt8]?] {
        guard !ids.isEmpty else { return [] }
        var byShard = [Int: [Int]]()  // shard -> positions in ids
        for (k, id) in ids.enumerated() { byShard[layout.shard(of: id), default: []].append(k) }
        var commands = [RESPCommand](), positions = [[Int]]()
        for shard in byShard.keys.sorted() {
            let all = byShard[shard]!
            let prefix = Array(layout.ticketKeyPrefix(shard).utf8)
            for start in stride(from: 0, to: all.count, by: Self.mgetKeys) {
                let part = Array(all[start..<min(start + Self.mgetKeys, all.count)])
                var b = RESPCommand.Builder(arguments: 1 + part.count, capacity: (prefix.count + 20) * part.count)
                b.append("MGET")
                for k in part { b.append(prefix, decimal: ids[k]) }
                commands.append(b.command(name: "MGET", key: Array(layout.ticket(ids[part[0]]).utf8)))
                positions.append(part)
            }
        }
        var out = [[UInt8]?](repeating: nil, count: ids.count)
        try pool.pipelineBlocking(commands) { i, reply in
            try Self.eachValue(of: reply, part: positions[i]) { k, b in out[k] = b }
        }
        return out
    }

    /// Keys per MGET: large enough to amortize the command, small enough to keep one reply modest.
    public static let mgetKeys = 500

    /// A change-log entry holding lines of some of a set of tickets: its stream id, their
    /// lines (`moved`), and the entry's other lines joined (`rest`; empty when none).
    public struct LogEntrySplit: Sendable {
        public var id: String
        public var moved: [ArraySlice<UInt8>]
        public var rest: [UInt8]

        /// The split of entry `id` (text `text`) by `tickets`; nil when no line is theirs.
        public init?(id: String, text: [UInt8], tickets: Set<Int64>) {
            var moved = [ArraySlice<UInt8>](), kept = [ArraySlice<UInt8>]()
            for line in ChangeLogEntry.lines(text) {
                if tickets.contains(ChangeLogEntry.ticket(of: line) ?? -1) { moved.append(line) } else { kept.append(line) }
            }
            guard !moved.isEmpty else { return nil }
            self.id = id
            self.moved = moved
            self.rest = kept.count == 0 ? [] : ChangeLogEntry.text(kept)
        }
    }

    /// The change-log entries of a shard that hold lines of the given tickets, split.
    public func logEntries(shard: Int, tickets: Set<Int64>) throws -> [LogEntrySplit] {
        var out = [LogEntrySplit]()
        try forEachLogEntry(shard: shard) { id, text in
            if let split = LogEntrySplit(id: id, text: text, tickets: tickets) { out.append(split) }
        }
        return out
    }

    /// The texts of a shard's entries by stream id (nil for an entry no longer there):
    /// one `XRANGE id id` each, pipelined 1,000 at a time.
    public func logEntries(shard: Int, ids: [String]) throws -> [[UInt8]?] {
        var out = [[UInt8]?]()
        out.reserveCapacity(ids.count)
        for start in stride(from: 0, to: ids.count, by: 1000) {
            let part = ids[start..<min(start + 1000, ids.count)]
            let replies = try pool.pipelineBlocking(part.map { ["XRANGE", layout.changeLog(shard), $0, $0].map { Array($0.utf8) } })
            for r in replies {
                if case .error(let m) = r { throw RedisError.server(command: "XRANGE", message: m) }
                guard let pair = r.array?.first?.array, pair.count == 2, let fields = pair[1].array, fields.count >= 2,
                      case .bulk(let text) = fields[1] else { out.append(nil); continue }
                out.append(text)
            }
        }
        return out
    }

    /// Every change-log entry of a shard (its text: one line or more), oldest first.
    public func allLogEntries(shard: Int) throws -> [[UInt8]] {
        var out = [[UInt8]]()
        try forEachLogEntry(shard: shard) { _, text in out.append(text) }
        return out
    }

    /// Pages through a shard's change log (XRANGE, 10,000 entries per round trip).
    public func forEachLogEntry(shard: Int, _ body: (_ id: String, _ text: [UInt8]) throws -> Void) throws {
        try forEachLogEntry(shard: shard, after: nil, through: "+", body)
    }

    /// The entries after the id `after` (from the first when nil) up to `through` inclusive.
    public func forEachLogEntry(shard: Int, after: String?, through end: String, _ body: (_ id: String, _ text: [UInt8]) throws -> Void) throws {
        var start = after.map { "(" + $0 } ?? "-"
        while true {
            let r = try pool.pipelineBlocking([["XRANGE", layout.changeLog(shard), start, end, "COUNT", "10000"].map { Array($0.utf8) }])[0]
            guard case .array(let entries) = r else { throw RedisError.protocolError("XRANGE returned \(r)") }
            var last: String?
            for e in entries {
                guard let pair = e.array, pair.count == 2, let id = pair[0].string, let fields = pair[1].array, fields.count >= 2,
                      case .bulk(let text) = fields[1] else { continue }
                last = id
                try body(id, text)
            }
            guard entries.count == 10000, let last else { return }
            start = "(" + last
        }
    }

    /// A shard's counters by hour, read atomically: every hour hash of its hour index, the
    /// minute hashes still open (counted in their hour: `MinuteFold` has not moved them yet),
    /// and `moving` (the hour hashes of rollup runs that are not registered, named by the
    /// caller's cold snapshot). One script, so that no fold or rename lands halfway through.
    /// Every (hour, field, count) it finds, one per key and field.
    public func hourCounters(shard: Int, moving: [(run: Int64, hour: Int64)] = []) throws -> [(hour: Int64, field: String, count: Int64)] {
        let args = [layout.keyPrefix(shard)] + moving.flatMap { [String($0.run), String($0.hour)] }
        let reply = try pool.pipelineBlocking([(["EVAL", Self.hourCountersScript, "2", layout.hourIndex(shard), layout.openMinutes(shard)] + args).map { Array($0.utf8) }])[0]
        if case .error(let m) = reply { throw RedisError.server(command: "EVAL (hour counters)", message: m) }
        guard let groups = reply.array else { throw RedisError.protocolError("the hour counters script answered \(reply)") }
        var out = [(hour: Int64, field: String, count: Int64)]()
        for g in groups {
            guard let parts = g.array, parts.count == 3, let kind = parts[0].string, let bucket = parts[1].int, let kv = parts[2].array else {
                throw RedisError.protocolError("the hour counters script answered \(g)")
            }
            let hour = kind == "m" ? floorDiv(bucket, 60) : bucket
            for j in stride(from: 0, to: kv.count - 1, by: 2) {
                guard let field = kv[j].string, let text = kv[j + 1].string, let n = Int64(text) else { continue }
                out.append((hour, field, n))
            }
        }
        return out
    }

    /// KEYS: [1] hour index, [2] open minutes. ARGV: [1] the shard's key prefix, then
    /// (run, hour) per moving hour. Reply: {kind, bucket, HGETALL} per key, kind h (an
    /// hour, or a moving hour) or m (an open minute).
    static let hourCountersScript = """
    local out = {}
    for _, h in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
      out[#out + 1] = {'h', h, redis.call('HGETALL', ARGV[1] .. 'h:' .. h)}
    end
    for i = 2, #ARGV, 2 do
      out[#out + 1] = {'h', ARGV[i + 1], redis.call('HGETALL', ARGV[1] .. 'hm:' .. ARGV[i] .. ':' .. ARGV[i + 1])}
    end
    for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
      out[#out + 1] = {'m', m, redis.call('HGETALL', ARGV[1] .. 'm:' .. m)}
    end
    return out
    """
}
