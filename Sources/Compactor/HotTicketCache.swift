import Dispatch
import HotTier
import RedisClient
import SegmentFormat
import StrataCore
import Synchronization

/// Hot tickets read from Redis: batches of columns, the ids found, and those whose create
/// has not arrived (kept out of the columns, but they still hide their cold rows).
struct HotLoad: Sendable {
    var batches: [[ColumnVector]] = []
    var found: [Int64] = []
    var incomplete: [Int64] = []
    /// The complete tickets themselves, when asked for instead of columns.
    var tickets: [SelectedTicket] = []

    /// Tickets per chunk: one MGET round trip and one batch of columns.
    static let chunk = 8_192

    /// Reads the tickets `ids` (missing keys are skipped): chunks fetched (MGET) and parsed
    /// by up to `threads` workers at once, so that Redis serves one chunk while another is parsed.
    static func read(_ ids: [Int64], pool: RedisPool, layout: KeyLayout, threads: Int, asTickets: Bool = false) throws -> HotLoad {
        let chunks = stride(from: 0, to: ids.count, by: chunk).map { Array(ids[$0..<min($0 + chunk, ids.count)]) }
        let done = Mutex<(parts: [HotLoad?], error: (any Error)?)>((Array(repeating: nil, count: chunks.count), nil))
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, chunks.count))) { _ in
            while true {
                let k = next.add(1, ordering: .relaxed).oldValue
                guard k < chunks.count, done.withLock({ $0.error == nil }) else { return }
                do {
                    var part = HotLoad(), selected = [SelectedTicket]()
                    for (id, blob) in zip(chunks[k], try HotTierAccess(pool: pool, layout: layout).blobs(chunks[k])) {
                        guard let blob else { continue }
                        let flat = try FlatTicket.parse(blob)
                        part.found.append(id)
                        guard flat.isComplete else { part.incomplete.append(id); continue }
                        selected.append(SelectedTicket(id: id, shard: layout.shard(of: id), blob: blob, flat: flat, digest: []))
                    }
                    if asTickets { part.tickets = selected } else if !selected.isEmpty { part.batches = [try TicketRows.columns(selected)] }
                    done.withLock { $0.parts[k] = part }
                } catch {
                    done.withLock { if $0.error == nil { $0.error = error } }
                    return
                }
            }
        }
        let result = done.withLock { $0 }
        if let error = result.error { throw error }
        var out = HotLoad()
        for case let part? in result.parts {
            out.batches += part.batches
            out.found += part.found
            out.incomplete += part.incomplete
            out.tickets += part.tickets
        }
        return out
    }
}

/// The hot tier's tickets kept as columns between queries (one per daemon), brought up to
/// date before each query from what changed in Redis instead of read whole again:
///
/// 1. each shard's change log past the last entry seen names the tickets changed since
///    (every accepted event appends an entry, in the same script that changes the ticket);
/// 2. each shard's hot index gives the tickets that are hot now (the compactor removes a
///    ticket's key, index entry and log entries in one script);
/// 3. changed tickets still hot are fetched again into a small "fresh" batch; rows of the
///    base batches that are no longer hot or have a fresh copy are left out by selection.
///
/// When the fresh part grows past a quarter of the base, or a log's last id goes back
/// (Redis lost its data, or another Redis answers), everything is read again. A query
/// therefore sees every change acknowledged before it started, as without the cache.
public final class HotTicketCache: Sendable {
    struct Base: Sendable {
        var batches: [[ColumnVector]] = []
        /// Per batch, the id of each row.
        var ids: [[Int64]] = []
        var rows = 0
    }

    struct State: Sendable {
        var layout: KeyLayout?
        /// Per shard: the id of the last change-log entry read.
        var lastEntry: [StreamID] = []
        var base = Base()
        /// Tickets changed since the base was read: their current columns (nil: missing or
        /// incomplete now), and one batch of the complete ones.
        var fresh: [Int64: SelectedTicket?] = [:]
        var freshBatch: [ColumnVector]? = nil
        var incomplete = Set<Int64>()
        var reloads = 0
        var updates = 0
        /// Per shard, the tickets in its hot index.
        var members: [Set<Int64>] = []
        /// The last answer: given again when nothing changed.
        var last: Snapshot?
    }

    let state = Mutex(State())
    /// Refreshes one at a time; queries then read the snapshot they were given.
    let refreshing = Mutex(())
    /// Most hot tickets the cache holds; past it, queries read Redis as without the cache.
    public let maxTickets: Int

    public init(maxTickets: Int = 5_000_000) {
        self.maxTickets = maxTickets
    }

    /// How many times everything was read again, and how many times only changed tickets were.
    public var reloads: Int { state.withLock { $0.reloads } }
    public var updates: Int { state.withLock { $0.updates } }

    /// What a query reads from the hot tier: batches with the rows that count, the ids of
    /// every hot ticket (their cold rows are hidden) and how many are incomplete.
    struct Snapshot: Sendable {
        var batches: [(columns: [ColumnVector], selection: [Int]?)]
        var hot: HotIDs
        var incomplete: Int
    }

    func snapshot(pool: RedisPool, layout: KeyLayout, threads: Int) throws -> Snapshot? {
        try refreshing.withLock { _ -> Snapshot? in
            var s = state.withLock { $0 }
            state.withLock { $0 = State() }  // keep the arrays uniquely referenced while updating
            defer { state.withLock { $0 = s } }
            return try refresh(&s, pool: pool, layout: layout, threads: threads)
        }
    }

    func refresh(_ s: inout State, pool: RedisPool, layout: KeyLayout, threads: Int) throws -> Snapshot? {
        let access = HotTierAccess(pool: pool, layout: layout)
        let shards = 0..<layout.shards
        if s.layout != layout {
            s = State(layout: layout, lastEntry: Array(repeating: .zero, count: layout.shards), reloads: s.reloads, updates: s.updates)
        }
        // 1. Each log's last entry and first entry now, and each hot index's size.
        let info = try pool.pipelineBlocking(shards.map { ["XINFO", "STREAM", layout.changeLog($0)].map { Array($0.utf8) } }
                                             + shards.map { ["ZCARD", layout.hotIndex($0)].map { Array($0.utf8) } })
        let lastNow = shards.map { Self.streamField(info[$0], "last-generated-id") ?? .zero }
        let firstNow = shards.map { Self.streamField(info[$0], "first-entry") }
        let cards = shards.map { info[layout.shards + $0].int ?? 0 }
        var reload = s.members.count != layout.shards
        for shard in shards where !reload {
            // A log that went back is another Redis's (or a Redis that lost its data); a log
            // whose first entry is past the last one read lost entries unread (trimmed, or
            // removed by a compaction run): read everything again.
            if lastNow[shard] < s.lastEntry[shard] { reload = true }
            if let first = firstNow[shard], s.lastEntry[shard] < first, s.lastEntry[shard] != .zero || s.members[shard].count > 0 { reload = true }
        }
        // 2. What changed: the entries between the last one read and the last one now.
        var changed = [Set<Int64>](repeating: [], count: layout.shards)
        if !reload {
            for shard in shards where s.lastEntry[shard] < lastNow[shard] {
                try access.forEachLogEntry(shard: shard, after: s.lastEntry[shard].text, through: lastNow[shard].text) { _, text in
                    if let ticket = TicketRows.integer(text.prefix { $0 != 0x7C }) { changed[shard].insert(ticket) }
                }
            }
        }
        // 3. What is hot now. Only the merge script adds to a hot index, and it logs what it
        // adds; only the compactor removes. So a changed ticket's place is asked (ZMSCORE),
        // and a shard whose index then has another size than the tickets known lost some
        // to a compaction: its index is read whole.
        var membersChanged = reload
        if !reload {
            let asked = shards.filter { !changed[$0].isEmpty }
            let scores = try pool.pipelineBlocking(asked.map { shard in
                [Array("ZMSCORE".utf8), Array(layout.hotIndex(shard).utf8)] + changed[shard].map { Array(String($0).utf8) }
            })
            for (shard, reply) in zip(asked, scores) {
                guard let items = reply.array, items.count == changed[shard].count else { throw RedisError.protocolError("ZMSCORE answered \(reply)") }
                for (id, score) in zip(changed[shard], items) {
                    let isHot = score != .null && score.array == nil
                    if isHot != s.members[shard].contains(id) {
                        membersChanged = true
                        if isHot { s.members[shard].insert(id) } else { s.members[shard].remove(id) }
                    }
                }
            }
        }
        let whole = reload ? Array(shards) : shards.filter { s.members[$0].count != cards[$0] }
        if !whole.isEmpty {
            membersChanged = true
            if reload { s.members = Array(repeating: [], count: layout.shards) }
            let replies = try pool.pipelineBlocking(whole.map { ["ZRANGE", layout.hotIndex($0), "0", "-1"].map { Array($0.utf8) } })
            for (shard, r) in zip(whole, replies) { s.members[shard] = Set((r.array ?? []).compactMap { $0.int }) }
        }
        let total = s.members.reduce(0) { $0 + $1.count }
        guard total <= maxTickets else { s = State(reloads: s.reloads, updates: s.updates); return nil }
        let allChanged = changed.reduce(into: Set<Int64>()) { $0.formUnion($1) }
        if !reload && allChanged.isEmpty && !membersChanged, let last = s.last {
            s.lastEntry = lastNow
            return last  // nothing changed since the last query
        }
        let hot = s.members.reduce(into: Set<Int64>()) { $0.formUnion($1) }
        if !reload {
            // Hot tickets the cache never saw (their log entry was trimmed unread) are fetched too.
            var known = s.incomplete.union(s.fresh.keys)
            for ids in s.base.ids { known.formUnion(ids) }
            let refetch = allChanged.union(hot.subtracting(known)).intersection(hot)
            if s.fresh.count + refetch.count > max(1_000, s.base.rows / 4) {
                reload = true
            } else {
                let gone = s.fresh.keys.filter { !hot.contains($0) }
                for id in gone { s.fresh.removeValue(forKey: id) }
                if !refetch.isEmpty || !gone.isEmpty {
                    let load = try HotLoad.read(refetch.sorted(), pool: pool, layout: layout, threads: threads, asTickets: true)
                    var fetched = [Int64: SelectedTicket]()
                    for t in load.tickets { fetched[t.id] = t }
                    for id in refetch { s.fresh[id] = .some(fetched[id]) }
                    s.incomplete.subtract(refetch)
                    s.incomplete.formUnion(load.incomplete)
                    let current = s.fresh.values.compactMap { $0 }.sorted { $0.id < $1.id }
                    s.freshBatch = current.isEmpty ? nil : Self.coded(try TicketRows.columns(current))
                    s.updates += 1
                }
                s.incomplete.formIntersection(hot)
            }
        }
        if reload {
            let load = try HotLoad.read(hot.sorted(), pool: pool, layout: layout, threads: threads)
            let idColumn = Tables.ticketsStored.idColumnIndex
            let batches = load.batches.map(Self.coded)
            s.base = Base(batches: batches, ids: batches.map { batch in
                guard case .integers(let ids) = batch[idColumn].values else { return [] }
                return ids
            }, rows: batches.reduce(0) { $0 + $1[0].count })
            s.fresh = [:]
            s.freshBatch = nil
            s.incomplete = Set(load.incomplete)
            s.reloads += 1
        }
        s.lastEntry = lastNow
        // 4. The rows that count: base rows still hot and not fetched again, then the fresh batch.
        var batches = [(columns: [ColumnVector], selection: [Int]?)]()
        for (batch, ids) in zip(s.base.batches, s.base.ids) {
            let keep = ids.indices.filter { hot.contains(ids[$0]) && s.fresh[ids[$0]] == nil }
            if keep.isEmpty { continue }
            batches.append((batch, keep.count == ids.count ? nil : keep))
        }
        if let f = s.freshBatch { batches.append((f, nil)) }
        let snapshot = Snapshot(batches: batches, hot: membersChanged || s.last == nil ? HotIDs(hot) : s.last!.hot, incomplete: s.incomplete.count)
        s.last = snapshot
        return snapshot
    }

    /// Text columns with few distinct values (status, priority, channel, queue) as
    /// dictionary codes, as the cold tier's: made once per cached batch, they make every
    /// query's comparisons and GROUP BY decide once per word.
    static func coded(_ batch: [ColumnVector]) -> [ColumnVector] {
        batch.map { c in
            guard case .strings(let s) = c.values, let d = StringCodec.dictionary(of: s, limit: 256) else { return c }
            return ColumnVector(values: .dictionary(codes: d.codes, dictionary: d.dictionary), validity: c.validity)
        }
    }

    /// A stream id field of `XINFO STREAM` (`last-generated-id`, or the id of `first-entry`);
    /// nil when the stream does not exist or is empty.
    static func streamField(_ reply: RESPValue, _ name: String) -> StreamID? {
        guard let items = reply.array else { return nil }
        for j in stride(from: 0, to: items.count - 1, by: 2) where items[j].string == name {
            if let id = items[j + 1].string { return StreamID(id) }
            return items[j + 1].array?.first?.string.flatMap(StreamID.init)
        }
        return nil
    }
}

/// A Redis stream entry id (`ms-seq`), ordered as Redis orders them.
struct StreamID: Comparable, Sendable {
    var ms: UInt64
    var seq: UInt64
    static let zero = StreamID(ms: 0, seq: 0)

    init(ms: UInt64, seq: UInt64) {
        self.ms = ms
        self.seq = seq
    }

    init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let ms = UInt64(parts[0]), let seq = UInt64(parts[1]) else { return nil }
        self.ms = ms
        self.seq = seq
    }

    var text: String { "\(ms)-\(seq)" }

    static func < (a: StreamID, b: StreamID) -> Bool { (a.ms, a.seq) < (b.ms, b.seq) }
}
