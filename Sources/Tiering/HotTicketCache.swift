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
                    for (id, blob) in zip(chunks[k], try HotTierReads(pool: pool, layout: layout).blobs(chunks[k])) {
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
/// 3. changed tickets still hot are fetched again into a new small batch; rows of earlier
///    batches whose ticket has a newer copy or left the hot tier are left out by selection.
///
/// When the batches of changes pass a quarter of the first read, a log's last id goes
/// back (Redis lost its data, or another Redis answers), or the last entry read is gone
/// though no `XDEL` reached it (Redis lost its last writes and took new ones since),
/// everything is read again. A query
/// therefore sees every change acknowledged before it started, as without the cache.
public final class HotTicketCache: Sendable {
    /// Hot tickets as columns: the first read's chunks, then one batch per update.
    struct Batch: Sendable {
        var columns: [ColumnVector]
        /// The ticket of each row.
        var ids: [Int64]
        /// Rows whose ticket has a newer copy in a later batch, or left the hot tier.
        var dead = 0
        /// The rows that count, made when `dead` last changed.
        var selection: [Int]? = nil
        var selectionDead = 0
    }

    struct State: Sendable {
        var layout: KeyLayout?
        /// Per shard: the id of the last change-log entry read.
        var lastEntry: [StreamID] = []
        var batches: [Batch] = []
        /// The batch holding each hot ticket's current copy (not incomplete ones).
        var latest: [Int64: Int] = [:]
        /// Hot tickets whose create has not arrived: not in the columns, but hot.
        var incomplete = Set<Int64>()
        var firstReadRows = 0
        var updateRows = 0
        var reloads = 0
        var updates = 0
        /// Per shard, the tickets in its hot index.
        var members: [Set<Int64>] = []
        /// The last answer: given again when nothing changed.
        var last: Snapshot?

        /// The ticket's copy, if any, no longer counts.
        mutating func retire(_ id: Int64) {
            if let b = latest.removeValue(forKey: id) { batches[b].dead += 1 }
        }
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
    /// Hot tickets held as columns now.
    public var tickets: Int { state.withLock { $0.latest.count } }

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
        let access = HotTierReads(pool: pool, layout: layout)
        let shards = 0..<layout.shards
        if s.layout != layout {
            s = State(layout: layout, lastEntry: Array(repeating: .zero, count: layout.shards), reloads: s.reloads, updates: s.updates)
        }
        // 1. Each log's last entry and first entry now, each hot index's size, and whether the
        // last entry read is still there.
        let lastRead = s.lastEntry.count == layout.shards ? s.lastEntry : Array(repeating: .zero, count: layout.shards)  // none before the first read
        let info = try pool.pipelineBlocking(shards.map { ["XINFO", "STREAM", layout.changeLog($0)].map { Array($0.utf8) } }
                                             + shards.map { ["GET", layout.hotIndexCount($0)].map { Array($0.utf8) } }
                                             + shards.map { ["XRANGE", layout.changeLog($0), lastRead[$0].text, lastRead[$0].text].map { Array($0.utf8) } })
        let lastNow = shards.map { Self.streamField(info[$0], "last-generated-id") ?? .zero }
        let firstNow = shards.map { Self.streamField(info[$0], "first-entry") }
        let maxDeleted = shards.map { Self.streamField(info[$0], "max-deleted-entry-id") ?? .zero }
        let cards = try shards.map { try HotIndex.count(info[layout.shards + $0]) }
        var reload = s.members.count != layout.shards
        for shard in shards where !reload {
            // A log that went back is another Redis's (or a Redis that lost its data); a log
            // whose first entry is past the last one read lost entries unread (trimmed, or
            // removed by a compaction run): read everything again.
            if lastNow[shard] < s.lastEntry[shard] { reload = true }
            if let first = firstNow[shard], s.lastEntry[shard] < first, s.lastEntry[shard] != .zero || s.members[shard].count > 0 { reload = true }
            // The last entry read is gone, and no XDEL (a compaction run's) went that far: Redis
            // came back without its last writes (`appendfsync everysec` and a restart, or a
            // replica promoted before it had them) and was written to since, past that id. A
            // log is a prefix of what ran, so what the cache holds of the lost entries is in
            // no Redis: read everything again (docs/tiering.md, "The daemon's hot-ticket cache").
            if s.lastEntry[shard] != .zero, info[2 * layout.shards + shard].array?.isEmpty == true, maxDeleted[shard] < s.lastEntry[shard] {
                reload = true
            }
        }
        // 2. What changed: the entries between the last one read and the last one now.
        var changed = [Set<Int64>](repeating: [], count: layout.shards)
        if !reload {
            for shard in shards where s.lastEntry[shard] < lastNow[shard] {
                try access.forEachLogEntry(shard: shard, after: s.lastEntry[shard].text, through: lastNow[shard].text) { _, text in
                    for line in ChangeLogEntry.lines(text) {
                        if let ticket = ChangeLogEntry.ticket(of: line) { changed[shard].insert(ticket) }
                    }
                }
            }
        }
        // 3. What is hot now. Only the merge script adds to a hot index, and it logs what it
        // adds; only the compactor removes. So a changed ticket's place is asked (its score),
        // and a shard whose index then has another size than the tickets known lost some
        // to a compaction: its index is read whole.
        var membersChanged = reload
        if !reload {
            let asked = shards.flatMap { shard in changed[shard].map { (shard, $0) } }
            let scores = try HotIndex(pool: pool, layout: layout).scores(ids: asked.map(\.1))
            for ((shard, id), score) in zip(asked, scores) {
                let isHot = score != nil
                if isHot != s.members[shard].contains(id) {
                    membersChanged = true
                    if isHot { s.members[shard].insert(id) } else { s.members[shard].remove(id) }
                }
                if !isHot { s.retire(id) }
            }
        }
        let whole = reload ? Array(shards) : shards.filter { s.members[$0].count != cards[$0] }
        if !whole.isEmpty {
            membersChanged = true
            if reload { s.members = Array(repeating: [], count: layout.shards) }
            let lists = try HotIndex(pool: pool, layout: layout).ids(shards: whole)
            for (shard, list) in zip(whole, lists) {
                let now = Set(list)
                if !reload { for id in s.members[shard].subtracting(now) { s.retire(id) } }  // compacted away
                s.members[shard] = now
            }
        }
        let total = s.members.reduce(0) { $0 + $1.count }
        guard total <= maxTickets else { s = State(reloads: s.reloads, updates: s.updates); return nil }
        let allChanged = changed.reduce(into: Set<Int64>()) { $0.formUnion($1) }
        if !reload && allChanged.isEmpty && !membersChanged, let last = s.last {
            s.lastEntry = lastNow
            return last  // nothing changed since the last query
        }
        let hot = s.members.reduce(into: Set<Int64>()) { $0.formUnion($1) }
        s.incomplete.formIntersection(hot)
        if !reload {
            // Changed tickets still hot, and hot tickets the cache never saw (their log entry
            // was trimmed unread), are fetched again into one new batch.
            let refetch = allChanged.union(hot.filter { s.latest[$0] == nil && !s.incomplete.contains($0) }).intersection(hot)
            if s.updateRows + refetch.count > max(1_000, s.firstReadRows / 4) {
                reload = true
            } else if !refetch.isEmpty {
                let load = try HotLoad.read(refetch.sorted(), pool: pool, layout: layout, threads: threads)
                for id in refetch { s.retire(id) }
                s.incomplete.subtract(refetch)
                s.incomplete.formUnion(load.incomplete)
                let idColumn = Tables.ticketsStored.idColumnIndex
                for batch in load.batches.map(Self.coded) {
                    guard case .integers(let ids) = batch[idColumn].values else { continue }
                    for id in ids { s.latest[id] = s.batches.count }
                    s.batches.append(Batch(columns: batch, ids: ids))
                    s.updateRows += ids.count
                }
                s.updates += 1
            }
        }
        if reload {
            let load = try HotLoad.read(hot.sorted(), pool: pool, layout: layout, threads: threads)
            let idColumn = Tables.ticketsStored.idColumnIndex
            s.batches = []
            s.latest = [:]
            for batch in load.batches.map(Self.coded) {
                guard case .integers(let ids) = batch[idColumn].values else { continue }
                for id in ids { s.latest[id] = s.batches.count }
                s.batches.append(Batch(columns: batch, ids: ids))
            }
            s.firstReadRows = s.latest.count
            s.updateRows = 0
            s.incomplete = Set(load.incomplete)
            s.reloads += 1
        }
        s.lastEntry = lastNow
        // 4. The rows that count: in each batch, the rows holding their ticket's current copy.
        var batches = [(columns: [ColumnVector], selection: [Int]?)]()
        for b in s.batches.indices {
            let batch = s.batches[b]
            if batch.dead == 0 { batches.append((batch.columns, nil)); continue }
            if batch.dead >= batch.ids.count { continue }
            if batch.selection == nil || batch.selectionDead != batch.dead {
                s.batches[b].selection = batch.ids.indices.filter { s.latest[batch.ids[$0]] == b }
                s.batches[b].selectionDead = batch.dead
            }
            if let keep = s.batches[b].selection, !keep.isEmpty { batches.append((batch.columns, keep)) }
        }
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
