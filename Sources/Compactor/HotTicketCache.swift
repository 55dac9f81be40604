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
        /// The last answer and the hot index it was made from: unchanged, it is given again.
        var lastHot: [Int64] = []
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
        if s.layout != layout { s = State(layout: layout, lastEntry: Array(repeating: .zero, count: layout.shards), reloads: s.reloads, updates: s.updates) }
        // 1. What changed: each log's entries between the last one seen and its last one now.
        let lastNow = try pool.pipelineBlocking((0..<layout.shards).map { ["XINFO", "STREAM", layout.changeLog($0)].map { Array($0.utf8) } })
            .map { Self.lastGeneratedID($0) ?? .zero }
        var reload = s.base.batches.isEmpty && s.fresh.isEmpty && s.incomplete.isEmpty
        if zip(lastNow, s.lastEntry).contains(where: { $0 < $1 }) { reload = true }  // a log went back: not the Redis we read
        var changed = Set<Int64>()
        if !reload {
            for shard in 0..<layout.shards where s.lastEntry[shard] < lastNow[shard] {
                try access.forEachLogEntry(shard: shard, after: s.lastEntry[shard].text, through: lastNow[shard].text) { _, text in
                    if let ticket = TicketRows.integer(text.prefix { $0 != 0x7C }) { changed.insert(ticket) }
                }
            }
        }
        // 2. What is hot now.
        var hotNow = [Int64]()
        for r in try pool.pipelineBlocking((0..<layout.shards).map { ["ZRANGE", layout.hotIndex($0), "0", "-1"].map { Array($0.utf8) } }) {
            hotNow += (r.array ?? []).compactMap { $0.int }
        }
        guard hotNow.count <= maxTickets else { s = State(reloads: s.reloads, updates: s.updates); return nil }
        if !reload && changed.isEmpty && hotNow == s.lastHot, let last = s.last {
            s.lastEntry = lastNow
            return last  // nothing changed since the last query
        }
        let hot = Set(hotNow)
        if !reload {
            // Hot tickets the cache never saw (their log entry was trimmed unread) are fetched too.
            var known = s.incomplete.union(s.fresh.keys)
            for ids in s.base.ids { known.formUnion(ids) }
            let refetch = changed.union(hot.subtracting(known)).intersection(hot)
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
            let load = try HotLoad.read(hotNow, pool: pool, layout: layout, threads: threads)
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
        // 3. The rows that count: base rows still hot and not fetched again, then the fresh batch.
        var batches = [(columns: [ColumnVector], selection: [Int]?)]()
        for (batch, ids) in zip(s.base.batches, s.base.ids) {
            let keep = ids.indices.filter { hot.contains(ids[$0]) && s.fresh[ids[$0]] == nil }
            if keep.isEmpty { continue }
            batches.append((batch, keep.count == ids.count ? nil : keep))
        }
        if let f = s.freshBatch { batches.append((f, nil)) }
        let snapshot = Snapshot(batches: batches, hot: HotIDs(hot), incomplete: s.incomplete.count)
        s.lastHot = hotNow
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

    static func lastGeneratedID(_ reply: RESPValue) -> StreamID? {
        guard let items = reply.array else { return nil }
        for j in stride(from: 0, to: items.count - 1, by: 2) where items[j].string == "last-generated-id" {
            return items[j + 1].string.flatMap(StreamID.init)
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
