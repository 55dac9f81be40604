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

    /// The stored arrays of the tickets (nil where a key is missing), in the order of `ids`:
    /// one MGET per shard and up to `mgetKeys` keys (a shard's keys share a hash tag, so
    /// this holds on Redis Cluster too), those MGETs pipelined in one round trip.
    public func blobs(_ ids: [Int64]) throws -> [[UInt8]?] {
        guard !ids.isEmpty else { return [] }
        var byShard = [Int: [Int]]()  // shard -> positions in ids
        for (k, id) in ids.enumerated() { byShard[layout.shard(of: id), default: []].append(k) }
        var commands = [[[UInt8]]](), positions = [[Int]]()
        for shard in byShard.keys.sorted() {
            let all = byShard[shard]!
            for start in stride(from: 0, to: all.count, by: Self.mgetKeys) {
                let part = Array(all[start..<min(start + Self.mgetKeys, all.count)])
                commands.append([Array("MGET".utf8)] + part.map { Array(layout.ticket(ids[$0]).utf8) })
                positions.append(part)
            }
        }
        var out = [[UInt8]?](repeating: nil, count: ids.count)
        for (reply, part) in zip(try pool.pipelineBlocking(commands), positions) {
            if case .error(let e) = reply { throw RedisError.server(command: "MGET", message: e) }
            guard let items = reply.array, items.count == part.count else {
                throw RedisError.protocolError("MGET of \(part.count) keys answered \(reply)")
            }
            for (k, item) in zip(part, items) { if case .bulk(let b) = item { out[k] = b } }
        }
        return out
    }

    /// Keys per MGET: large enough to amortize the command, small enough to keep one reply modest.
    public static let mgetKeys = 500

    /// Change-log entries of a shard that belong to the given tickets: (stream id, entry).
    public func logEntries(shard: Int, tickets: Set<Int64>) throws -> [(id: String, text: [UInt8])] {
        var out = [(id: String, text: [UInt8])]()
        try forEachLogEntry(shard: shard) { id, text in
            if tickets.contains(ChangeLogEntry.ticket(of: text) ?? -1) { out.append((id, text)) }
        }
        return out
    }

    /// Every change-log entry of a shard (its text), oldest first.
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
}
