import StrataCore
import RedisClient
import Synchronization

/// Settings of the hot tier (docs/hot-tier.md).
public struct HotTierOptions: Sendable {
    public var layout = KeyLayout()
    /// How long a minute's counters stay, counted from the end of that minute (event time,
    /// as RedisTimeSeries retains samples): an event older than this counts in its hour only.
    public var minuteRetentionSeconds = 48 * 3600
    // Hour keys have no TTL: they stay until the compactor moves them (docs/hot-tier.md).
    /// Approximate cap on each shard's change log (0: keep everything until compaction).
    public var changeLogMaxLength = 0
    /// Events per script call (one call runs on the Redis thread; keep it short).
    public var maxEventsPerCall = 256
    /// Merge in the daemon (read, merge in Swift, write if unchanged: `MergedWrite.swift`, `WriteScript.swift`);
    /// false: every event through the merge script in Redis, as before.
    public var mergeInDaemon = true
    /// With `mergeInDaemon`: write the merge with an optimistic transaction (`WATCH` what the
    /// merge read, `MULTI`, the effects, `EXEC`: `TransactionWrite.swift`) instead of the write
    /// script. Not on a Redis Cluster (the write script is used there).
    public var writeWithTransaction = false
    /// With `mergeInDaemon` and the write script: send a round's writes as one transaction
    /// (`MULTI` … `EXEC`, `RedisPool.transaction`), so that Redis appends them to its AOF in
    /// one write and, under `appendfsync always`, one fsync (docs/durability.md, "What
    /// strict costs"). Not on a Redis Cluster.
    public var writeRoundAsTransaction = false
    /// Tickets whose last written bytes the daemon keeps, to merge over them without reading
    /// them again (`WrittenTickets`; 0: always read). About 350 B each.
    public var writtenTicketsKept = 65_536
    public init() {}

    /// The oldest minute (ms / 60,000) whose counters are still kept at wall-clock time
    /// `nowMs`: minute m is kept while (m + 1) · 60 s + the retention is in the future.
    public func firstRetainedMinute(nowMs: Int64) -> Int64 {
        floorDiv(nowMs - Int64(minuteRetentionSeconds) * 1000, 60_000)
    }
}

/// What happened to one event.
public enum ApplyOutcome: Int, Sendable {
    /// Its dot (writer, vv[writer]) was new: merged, logged, counted once.
    case accepted = 1
    /// Its dot was seen before (a repeat): not logged or counted. Fields it would win are
    /// still merged, which changes nothing for a true repeat (docs/tiering.md, "One change
    /// escapes the log"). HTTP says `duplicate`.
    case alreadyKnown = 0
    /// The ticket would exceed 63 writers.
    case refused = -1
    /// The ticket holds `HotTierLimits.maxPendingDotsPerTicket` events that arrived before the
    /// ones they follow, and this one would add another.
    case tooManyPending = -2
    /// Internal: not hot, may be cold (only when applying with a cold source).
    case notHot = 2
}

/// Where the hot tier finds a ticket that is not hot: the cold tier, through the catalog
/// (`Tiering.ColdTier`). The one place where the write path reads the cold tier.
public protocol ColdTicketSource: Sendable {
    /// The ticket's current cold row (its columns), version and merge state (nil for a
    /// row imported without one), or nil if it is not cold.
    func coldState(_ id: Int64) throws -> (values: [TicketEvent.Value], version: Int64, mergeState: [UInt8]?)?
    /// False when the ticket cannot be cold (outside every live segment's id range): a
    /// cheap test, so that new tickets do not pay for a cold lookup.
    func mayHold(_ id: Int64) throws -> Bool
    /// The tickets among `ids` that may be cold, from one look at the catalog.
    func mayHold(_ ids: [Int64]) throws -> Set<Int64>
}

extension ColdTicketSource {
    public func mayHold(_ ids: [Int64]) throws -> Set<Int64> {
        var out = Set<Int64>()
        for id in ids where try mayHold(id) { out.insert(id) }
        return out
    }
}

/// The hot tier: applies events through the merge script, reads tickets back.
/// A patch for a ticket that has moved to the cold tier folds the cold row in first
/// (`apply(_:cold:)` with a `ColdTicketSource`).
public final class HotTier: Sendable {
    public let pool: RedisPool
    public let options: HotTierOptions
    private let sha = Mutex<String?>(nil)
    let writeSHA = Mutex<String?>(nil)
    /// What this daemon wrote a moment ago (a hint for the merged write path).
    let written: WrittenTickets
    /// One round reads and merges at a time, and one round writes at a time, each in order
    /// (`applyMerged`): a round merges while the one before it writes.
    let mergeTurn = AsyncTurn(), writeTurn = AsyncTurn()
    /// Per shard, its moved count (`KeyLayout.movedCount`) as last read: while the write script
    /// finds it unchanged, no ticket of the shard left Redis since, so a ticket this daemon
    /// did not read can be merged as absent (docs/hot-tier.md, "Tickets not read"). Absent
    /// from the table: not known (read it first).
    let movedCounts = Mutex<[Int: [UInt8]]>([:])
    /// Writes, conflicts and fallbacks of the merged write path.
    public let mergedStats = MergedWriteStats()
    /// Tests: runs after a merged write's read, before its write (to stop a writer there,
    /// or to let another one change the tickets in between).
    let betweenReadAndWrite = Mutex<(@Sendable () async throws -> Void)?>(nil)
    /// The transaction write path's connections (`writeWithTransaction`, not on a cluster).
    let links: RedisLinks?

    public init(pool: RedisPool, options: HotTierOptions = HotTierOptions()) {
        self.pool = pool
        self.options = options
        written = WrittenTickets(capacity: options.writtenTicketsKept)
        links = options.mergeInDaemon && options.writeWithTransaction && !pool.isCluster
            ? RedisLinks(endpoint: pool.endpoint, options: pool.options, maxLinks: max(64, 4 * options.layout.shards), stats: pool.stats) : nil
    }

    /// Closes the transaction write path's idle connections.
    public func shutdown() { links?.shutdown() }

    /// Loads the merge script (again after a Redis restart emptied its script cache).
    @discardableResult
    public func loadScript() async throws -> String {
        let reply = try await pool.command(["SCRIPT", "LOAD", MergeScript.source])
        guard let s = reply.string else { throw RedisError.protocolError("SCRIPT LOAD returned \(reply)") }
        sha.withLock { $0 = s }
        return s
    }

    /// Applies events, in one round trip to Redis: one script call per shard batch.
    /// Returns the outcome of each event, in order. Throws when Redis could not be
    /// reached or failed; then some batches may have been applied, which is safe to
    /// repeat (events are idempotent).
    public func apply(_ events: [TicketEvent]) async throws -> [ApplyOutcome] {
        try await apply(events, checkCold: false)
    }

    func apply(_ events: [TicketEvent], checkCold: Bool, cold: (any ColdTicketSource)? = nil) async throws -> [ApplyOutcome] {
        if links != nil { return try await applyTransactional(events, checkCold: checkCold, cold: cold) }
        return options.mergeInDaemon ? try await applyMerged(events, checkCold: checkCold, cold: cold)
            : try await applyByScript(events, checkCold: checkCold)
    }

    /// Every event through the merge script: one call per shard batch.
    func applyByScript(_ events: [TicketEvent], checkCold: Bool) async throws -> [ApplyOutcome] {
        guard !events.isEmpty else { return [] }
        var sha = self.sha.withLock { $0 }
        if sha == nil { sha = try await loadScript() }
        let calls = plan(events, checkCold: checkCold)
        var outcomes = [ApplyOutcome](repeating: .alreadyKnown, count: events.count)
        var pending = Array(calls.indices)
        for attempt in 0..<2 {
            let replies = try await pool.pipeline(pending.map { calls[$0].command(sha: sha!) })
            var retry = [Int]()
            for (k, reply) in zip(pending, replies) {
                switch reply {
                case .array(let items) where items.count == calls[k].events.count:
                    for (e, item) in zip(calls[k].events, items) {
                        guard let v = item.int, let o = ApplyOutcome(rawValue: Int(v)) else {
                            throw RedisError.protocolError("merge script returned \(item)")
                        }
                        outcomes[e] = o
                    }
                case .error(let m) where m.hasPrefix("NOSCRIPT") && attempt == 0:
                    retry.append(k)
                case .error(let m):
                    throw RedisError.server(command: "EVALSHA (merge)", message: m)
                default:
                    throw RedisError.protocolError("merge script returned \(reply)")
                }
            }
            if retry.isEmpty { break }
            sha = try await loadScript()
            pending = retry
        }
        return outcomes
    }

    /// One script call: the events of one shard, with their keys and arguments.
    struct Call {
        var shard: Int
        var events: [Int] = []
        var keys: [String]
        var keyIndex: [String: Int] = [:]
        var args: [[UInt8]] = []
        var hourKeys: [String] = []

        init(shard: Int, layout: KeyLayout) {
            self.shard = shard
            keys = [layout.changeLog(shard), layout.hotIndexDirectory(shard), layout.hourIndex(shard), layout.incomplete(shard), layout.openMinutes(shard),
                    layout.hotIndexCount(shard), layout.compactionMark(shard), layout.reopened(shard)]
        }

        mutating func index(of key: String) -> Int {
            if let i = keyIndex[key] { return i }
            keys.append(key)
            keyIndex[key] = keys.count
            return keys.count
        }

        func command(sha: String) -> [[UInt8]] {
            // Hour keys go last so that the script can tell their TTL apart.
            var out: [[UInt8]] = [Array("EVALSHA".utf8), Array(sha.utf8), Array(String(keys.count).utf8)]
            out += keys.map { Array($0.utf8) }
            return out + args
        }
    }

    /// Applies events, folding in the cold state of tickets that come back from the cold
    /// tier first (a reopened old ticket): the script answers "not hot" for them, their
    /// cold row is restored with its merge state (or, for an imported row without one,
    /// becomes a base stamped at its version), and the events are applied on top, in the
    /// call that adds the ticket to its shard's reopened set. Its cold row stays current: a
    /// reader takes the hot copy, and the run that moves the ticket again supersedes the row
    /// when it registers the new one (docs/tiering.md, "A ticket coming back"). Without a
    /// cold source, plain `apply`.
    public func apply(_ events: [TicketEvent], cold: (any ColdTicketSource)?) async throws -> [ApplyOutcome] {
        guard let cold else { return try await apply(events) }
        // Every event asks "not hot?": deciding beforehand whether a ticket may be cold would
        // race with a compaction run deleting it between the check and the script. The
        // daemon's merge asks the cold tier after its read instead (`applyMerged`).
        var outcomes = try await apply(events, checkCold: true, cold: cold)
        let waiting = outcomes.indices.filter { outcomes[$0] == .notHot }
        guard !waiting.isEmpty else { return outcomes }
        // Absent from Redis now, so any migration of these tickets is already registered.
        var bases = [TicketEvent]()
        for id in Set(waiting.map { events[$0].id }).sorted() {
            guard try cold.mayHold(id), let state = try cold.coldState(id) else { continue }
            var fields = [(column: Int, value: TicketEvent.Value)]()
            for (c, def) in Tables.tickets.columns.enumerated() where def.name != Tables.tickets.idColumn && def.name != "version" {
                fields.append((c, state.values[c]))
            }
            if let merge = state.mergeState {
                // Exact: stamps, vector and seen dots as the hot tier last held them.
                bases.append(TicketEvent(folding: .restore(state: merge), id: id, fields: fields))
            } else {
                // Imported without merge state: a base whose stamps carry the cold version.
                bases.append(TicketEvent(folding: .base(version: state.version), id: id, fields: fields))
            }
        }
        // Bases and the events on top of them in one call per shard: atomic, so no run can
        // move a ticket between its base and its events.
        // Grouped by ticket, base first, so that a ticket's group is never split across calls.
        var combined = bases.map { (event: $0, index: -1) } + waiting.map { (event: events[$0], index: $0) }
        combined.sort { ($0.event.id, $0.index) < ($1.event.id, $1.index) }
        let again = try await apply(combined.map(\.event), checkCold: false)
        for (c, o) in zip(combined, again) where c.index >= 0 { outcomes[c.index] = o }
        return outcomes
    }

    /// The script calls that `apply` would send for these events (for benchmarks).
    public func commands(for events: [TicketEvent], sha: String) -> [[[UInt8]]] {
        plan(events).map { $0.command(sha: sha) }
    }

    public static var scriptSource: String { MergeScript.source }

    /// The script calls for `events`; minutes before `firstMinute` are not counted (key 0).
    func plan(_ events: [TicketEvent], checkCold: Bool = false, firstMinute: Int64? = nil) -> [Call] {
        let layout = options.layout
        let firstMinute = firstMinute ?? options.firstRetainedMinute(nowMs: wallClockMilliseconds())
        var byShard = [Int: [Int]]()
        for (i, e) in events.enumerated() { byShard[layout.shard(of: e.id), default: []].append(i) }
        var calls = [Call]()
        for (shard, indices) in byShard.sorted(by: { $0.key < $1.key }) {
            var start = 0
            while start < indices.count {
                var end = min(start + options.maxEventsPerCall, indices.count)
                // Never split one ticket's run of events across two calls.
                while end < indices.count && events[indices[end]].id == events[indices[end - 1]].id { end += 1 }
                let chunk = indices[start..<end]
                start += chunk.count
                var call = Call(shard: shard, layout: layout)
                // Ticket and minute keys first, hour keys after them.
                var perEvent = [(ticket: Int, minute: Int)]()
                for i in chunk {
                    let e = events[i]
                    let minute = floorDiv(e.at, 60_000)
                    perEvent.append((call.index(of: layout.ticket(e.id)),
                                     minute < firstMinute ? 0 : call.index(of: layout.minuteMetrics(shard, minute: minute))))
                }
                let firstHour = call.keys.count + 1
                var hourIndex = [Int]()
                for i in chunk { hourIndex.append(call.index(of: layout.hourMetrics(shard, hour: floorDiv(events[i].at, 3_600_000)))) }
                var bucketIndex = [Int]()
                for i in chunk { bucketIndex.append(call.index(of: layout.hotIndexBucket(shard, bucket: layout.hotIndexBucket(of: events[i].id)))) }
                var args: [[UInt8]] = [
                    Array(String(chunk.count).utf8), Array(String(options.minuteRetentionSeconds).utf8),
                    Array("0".utf8) /* reserved: it was the hour-key TTL */, Array(String(options.changeLogMaxLength).utf8),
                    Array(String(firstHour).utf8),
                ]
                for (k, i) in chunk.enumerated() {
                    let e = events[i]
                    call.events.append(i)
                    args.append(Array(String(perEvent[k].ticket).utf8))
                    args.append(Array(String(e.id).utf8))
                    if case .restore(let state)? = e.coldFold { args.append(state) } else { args.append(Array(e.writer.utf8)) }
                    args.append(Array(String(e.lamport).utf8))
                    args.append(Array(String(e.at).utf8))
                    switch (e.coldFold, e.op) {
                    case (.base?, _): args.append([0x62])
                    case (.restore?, _): args.append([0x72])
                    case (nil, .create): args.append(checkCold ? [0x43] : [0x63])
                    case (nil, .patch): args.append(checkCold ? [0x50] : [0x70])
                    }
                    args.append(Array(String(perEvent[k].minute).utf8))
                    args.append(Array(String(hourIndex[k]).utf8))
                    args.append(Array(String(bucketIndex[k]).utf8))
                    args.append(Array(String(e.vv.count).utf8))
                    for (w, c) in e.vv {
                        args.append(Array(w.utf8))
                        args.append(Array(String(c).utf8))
                    }
                    args.append(Array(String(e.fields.count).utf8))
                    for (column, value) in e.fields {
                        args.append(Array(String(column + 1).utf8))
                        switch value {
                        case .null: args.append([0x6E])
                        case .integer(let n): args.append([0x69] + Array(String(n).utf8))
                        case .string(let s): args.append([0x73] + Array(s.utf8))
                        }
                    }
                }
                call.args = args
                calls.append(call)
            }
        }
        return calls
    }

    /// Several tickets in one round trip (nil for those the hot tier has never seen).
    public func tickets(_ ids: [Int64]) async throws -> [HotTicket?] {
        guard !ids.isEmpty else { return [] }
        let replies = try await pool.pipeline(ids.map { [Array("GET".utf8), Array(options.layout.ticket($0).utf8)] })
        return try zip(ids, replies).map { id, reply in
            switch reply {
            case .null: return nil
            case .bulk(let b): return try HotTicket.decode(id: id, b)
            case .error(let m): throw RedisError.server(command: "GET", message: m)
            default: throw RedisError.protocolError("GET returned \(reply)")
            }
        }
    }

    /// How many tickets the hot tier holds, and how many of them are incomplete (patches
    /// whose create has not arrived; SQL leaves them out until it does): two pipelined
    /// counts per shard.
    public func counts() async throws -> (tickets: Int, incomplete: Int) {
        let layout = options.layout
        var commands = [[[UInt8]]]()
        for s in 0..<layout.shards {
            commands.append([Array("GET".utf8), Array(layout.hotIndexCount(s).utf8)])
            commands.append([Array("SCARD".utf8), Array(layout.incomplete(s).utf8)])
        }
        let replies = try await pool.pipeline(commands)
        var tickets = 0, incomplete = 0
        for (k, r) in replies.enumerated() {
            if k % 2 == 0 { tickets += try HotIndex.count(r); continue }
            guard let n = r.int else { throw RedisError.protocolError("SCARD returned \(r)") }
            incomplete += Int(n)
        }
        return (tickets, incomplete)
    }

    /// Some ids of incomplete tickets, sorted: up to `limit` drawn from each shard's set
    /// (SRANDMEMBER), then the smallest `limit` of those.
    public func incompleteIDs(limit: Int = 1000) async throws -> [Int64] {
        let layout = options.layout
        let replies = try await pool.pipeline((0..<layout.shards).map { [Array("SRANDMEMBER".utf8), Array(layout.incomplete($0).utf8), Array(String(limit).utf8)] })
        var ids = [Int64]()
        for r in replies { for m in r.array ?? [] { if let s = m.string, let id = Int64(s) { ids.append(id) } } }
        return Array(ids.sorted().prefix(limit))
    }

    /// The current state of a ticket, or nil if the hot tier has never seen it.
    public func ticket(_ id: Int64) async throws -> HotTicket? {
        let reply = try await pool.pipeline([[Array("GET".utf8), Array(options.layout.ticket(id).utf8)]])[0]
        switch reply {
        case .null: return nil
        case .bulk(let b): return try HotTicket.decode(id: id, b)
        case .error(let m): throw RedisError.server(command: "GET", message: m)
        default: throw RedisError.protocolError("GET returned \(reply)")
        }
    }
}

