import StrataCore

/// The msgpack encodings Redis's cmsgpack chooses (smallest first), so that a ticket the
/// daemon writes is byte for byte the one the script would have written. Byte by byte into
/// `out` (no array literal per header: each would be an allocation).
enum MsgPackWriter {
    static func arrayHeader(_ n: Int, _ out: inout [UInt8]) {
        if n <= 15 { out.append(0x90 | UInt8(n)) }
        else if n <= 0xFFFF { out.append(0xDC); out.append(UInt8(n >> 8)); out.append(UInt8(n & 0xFF)) }
        else { out.append(0xDD); be(UInt64(n), 4, &out) }
    }

    static func bytes<C: Collection<UInt8>>(_ b: C, _ out: inout [UInt8]) {
        let n = b.count
        if n < 32 { out.append(0xA0 | UInt8(n)) }
        else if n <= 0xFF { out.append(0xD9); out.append(UInt8(n)) }
        else if n <= 0xFFFF { out.append(0xDA); out.append(UInt8(n >> 8)); out.append(UInt8(n & 0xFF)) }
        else { out.append(0xDB); be(UInt64(n), 4, &out) }
        out.append(contentsOf: b)
    }

    static func int(_ n: Int64, _ out: inout [UInt8]) {
        if n >= 0 {
            if n <= 127 { out.append(UInt8(n)) }
            else if n <= 0xFF { out.append(0xCC); out.append(UInt8(n)) }
            else if n <= 0xFFFF { out.append(0xCD); be(UInt64(n), 2, &out) }
            else if n <= 0xFFFF_FFFF { out.append(0xCE); be(UInt64(n), 4, &out) }
            else { out.append(0xCF); be(UInt64(n), 8, &out) }
        } else {
            if n >= -32 { out.append(UInt8(bitPattern: Int8(n))) }
            else if n >= -128 { out.append(0xD0); out.append(UInt8(bitPattern: Int8(n))) }
            else if n >= -32768 { out.append(0xD1); be(UInt64(bitPattern: n), 2, &out) }
            else if n >= -2_147_483_648 { out.append(0xD2); be(UInt64(bitPattern: n), 4, &out) }
            else { out.append(0xD3); be(UInt64(bitPattern: n), 8, &out) }
        }
    }

    static func be(_ v: UInt64, _ n: Int, _ out: inout [UInt8]) {
        for i in stride(from: n - 1, through: 0, by: -1) { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}

/// The merge of docs/hot-tier.md in Swift, the rule `MergeScript` runs in Redis: one shard's
/// batch of events applied to its tickets in order. It is a pure function of the tickets'
/// stored bytes and the events: what to store, what to log and what to count, the same
/// bytes the script makes (`TicketMergeTests` runs both on a real Redis and compares).
struct ShardMerge {
    struct Entry {
        var id: Int64
        var state: TicketState
        /// Absent from Redis when the batch began.
        var absent: Bool
        /// Incomplete when the batch began (then leaving the incomplete set is a change).
        var wasIncomplete: Bool
        /// The hour of its updated_at when the batch began (`KeyLayout.hotIndexScore`), if
        /// any: its score is at most that, so a write whose hour is not earlier leaves the
        /// index alone.
        var indexed: Int64? = nil
        var dirty = false
        /// Restored from the cold tier by this batch (a restore or a base over an absent
        /// ticket): it joins the shard's reopened set (`KeyLayout.reopened`).
        var reopened = false
    }

    /// A counter to raise: the minute (`hour` false) or hour bucket, and the field (its
    /// place in `fieldNames`: a batch raises few fields in many buckets).
    struct Counter: Hashable {
        var hour: Bool
        var bucket: Int64
        var field: Int32
    }

    /// A counter field's bytes, hashed all at once (not byte by byte).
    struct FieldBytes: Hashable {
        var bytes: [UInt8]
        func hash(into h: inout Hasher) { bytes.withUnsafeBytes { h.combine(bytes: $0) } }
    }

    /// The batch's tickets, in the order it first touched them (the script saves in that
    /// order); `slots` finds one by id. Each is changed in place.
    private(set) var entries: [Entry] = []
    private var slots: [Int64: Int] = [:]
    private(set) var outcomes: [ApplyOutcome] = []
    /// The call's change-log entry (`ChangeLogEntry`): the accepted events' lines in order,
    /// written straight into one buffer (a line array per event was an allocation each).
    private(set) var logEntry: [UInt8] = []
    /// The entry's lines (for tests).
    var log: [[UInt8]] { ChangeLogEntry.lines(logEntry).map(Array.init) }
    private(set) var counters: [Counter: Int64] = [:]
    /// The counter fields the batch raises, each once; `fieldIndex` finds one by its bytes.
    private(set) var fieldNames: [[UInt8]] = []
    private var fieldIndex: [FieldBytes: Int32] = [:]
    /// Where a counter's field is built (`apply`).
    private var fieldScratch = FieldBytes(bytes: [])

    /// The bytes of counter `c`'s field.
    func field(_ c: Counter) -> [UInt8] { fieldNames[Int(c.field)] }

    static let F = TicketState.fieldCount
    static let status = MergeScript.position("status") - 1, agent = MergeScript.position("agent_id") - 1
    static let created = MergeScript.position("created_at") - 1, updated = MergeScript.position("updated_at") - 1
    static let first = MergeScript.position("first_response_at") - 1, solved = MergeScript.position("solved_at") - 1
    static let channel = MergeScript.position("channel") - 1, priority = MergeScript.position("priority") - 1
    static let queue = MergeScript.position("queue") - 1, csat = MergeScript.position("satisfaction") - 1
    static let reopen = MergeScript.position("reopen_count") - 1
    static let names: [[UInt8]] = Tables.tickets.columns.map { Array($0.name.utf8) }
    static let placeholder = Entry(id: 0, state: TicketState(), absent: true, wasIncomplete: false)

    /// The oldest minute whose counters are kept (`HotTierOptions.firstRetainedMinute`):
    /// an event of an older minute counts in its hour only.
    let firstMinute: Int64

    init(firstMinute: Int64) { self.firstMinute = firstMinute }

    /// The tickets to write back: id, new stored bytes, whether incomplete now and was
    /// before, and its new hot index score (nil: it stays as it is), in the script's save order.
    struct Write {
        let id: Int64
        let blob: [UInt8]
        let incomplete: Bool
        let wasIncomplete: Bool
        let indexScore: [UInt8]?
        /// Restored from the cold tier by this batch: joins the reopened set.
        let reopened: Bool
    }

    func writes() -> [Write] {
        entries.compactMap { e in
            guard e.dirty else { return nil }
            return Write(id: e.id, blob: e.state.encoded(), incomplete: e.state.isIncomplete, wasIncomplete: e.wasIncomplete,
                         indexScore: Self.indexScore(e.state, indexed: e.indexed), reopened: e.reopened)
        }
    }

    /// The hot index score to write for a ticket updated at `updated` whose stored
    /// updated_at had the hour `indexed` (the script's `indexScore`): its hour when that is
    /// earlier (or the ticket had none), nil otherwise. Written with `ZADD LT`, so a score is
    /// only ever lowered by a write: it stays at most the hour of updated_at, and a patch
    /// that moves updated_at into a later hour (every event of a replayed history) costs the
    /// index nothing; the compactor raises a score it finds behind (`HotIndexRescore`). A
    /// larger integer than a double holds exactly is written as it is.
    static func indexScore(_ state: TicketState, indexed: Int64?) -> [UInt8]? {
        switch state.values[updated] {
        case .null: return nil
        case .integer(let ms):
            let score = KeyLayout.hotIndexScore(updatedAtMs: ms)
            if let indexed, score >= indexed { return nil }
            return DecimalInteger.digits(score)
        case .bytes(let r): return Array(state.arena[r])
        }
    }

    /// The hot index score a stored ticket has (the script's `e[8]`).
    static func indexed(_ state: TicketState) -> Int64? {
        if case .integer(let ms) = state.values[updated] { return KeyLayout.hotIndexScore(updatedAtMs: ms) }
        return nil
    }

    /// The entry of ticket `id`, read from `stored` the first time.
    mutating func slot(_ id: Int64, _ stored: (Int64) throws -> [UInt8]?) throws -> Int {
        if let k = slots[id] { return k }
        let entry: Entry
        if let blob = try stored(id) {
            let state = try TicketState(parsing: blob)
            entry = Entry(id: id, state: state, absent: false, wasIncomplete: state.isIncomplete, indexed: Self.indexed(state))
        } else {
            entry = Entry(id: id, state: TicketState(), absent: true, wasIncomplete: false)
        }
        entries.append(entry)
        slots[id] = entries.count - 1
        return entries.count - 1
    }

    /// Applies one event (`checkCold`: the daemon has a cold tier, ops C/P). `stored(id)`
    /// gives a ticket's bytes in Redis when the batch began (nil: absent).
    mutating func apply(_ e: borrowing TicketEvent, checkCold: Bool, stored: (Int64) throws -> [UInt8]?) throws {
        let k = try slot(e.id, stored)
        // The entry out of the array while it changes, so that it is changed in place.
        var entry = Self.placeholder
        swap(&entry, &entries[k])
        defer { swap(&entry, &entries[k]) }
        try apply(e, to: &entry, checkCold: checkCold)
    }

    private mutating func apply(_ e: borrowing TicketEvent, to entry: inout Entry, checkCold: Bool) throws {
        if e.coldFold != nil && entry.absent && !entry.dirty { entry.reopened = true }
        if case .restore(let mergeState)? = e.coldFold {
            // Only if the ticket is still absent; else it already has its state.
            if entry.absent && !entry.dirty {
                var s = try TicketState(parsing: mergeState)
                for (c, v) in e.fields where s.stamps[c] != 0 { s.values[c] = s.store(v) }
                entry.state = s
                entry.dirty = true
            }
            outcomes.append(.alreadyKnown)
            return
        }
        if checkCold && e.coldFold == nil && entry.absent && !entry.dirty {
            outcomes.append(.notHot)
            return
        }
        // At most 63 writers: an event that would pass it is refused whole.
        let fresh = e.vv.reduce(0) { $0 + (entry.state.index(of: $1.writer) == nil ? 1 : 0) }
        if entry.state.writers.count + fresh > HotTierLimits.maxWritersPerTicket {
            outcomes.append(.refused)
            return
        }
        let ownCount = e.vv.last { $0.writer == e.writer }?.count ?? 0
        if entry.state.pending.count >= HotTierLimits.maxPendingDotsPerTicket {
            let idx = entry.state.index(of: e.writer)
            let prefix = idx.map { entry.state.writers[$0].prefix } ?? 0
            if ownCount > prefix + 1 && !(idx.map { entry.state.pending.contains(ownCount * 64 + Int64($0)) } ?? false) {
                outcomes.append(.tooManyPending)
                return
            }
        }
        let accepted = Self.admit(e, &entry.state)
        let wi = entry.state.index(of: e.writer)!
        let before = (status: entry.state.values[Self.status], agent: entry.state.values[Self.agent], first: entry.state.values[Self.first],
                      solved: entry.state.values[Self.solved], reopen: entry.state.values[Self.reopen], csat: entry.state.values[Self.csat],
                      createdStamp: entry.state.stamps[Self.created])
        let changed = Self.mergeFields(e, writerIndex: wi, &entry.state)
        if accepted || changed { entry.dirty = true }
        guard accepted else {
            outcomes.append(.alreadyKnown)
            return
        }
        outcomes.append(.accepted)
        let t = entry.state
        if logEntry.isEmpty { logEntry.reserveCapacity(128 * 64) } else { logEntry.append(ChangeLogEntry.lineSeparator) }
        Self.appendLogLine(e, writer: t.name(wi), state: t, to: &logEntry,
                           status: (before.status, e.fields.contains { $0.column == Self.status } ? t.values[Self.status] : .null),
                           agent: (before.agent, e.fields.contains { $0.column == Self.agent } ? t.values[Self.agent] : .null))
        let minute = floorDiv(e.at, 60_000), hour = floorDiv(e.at, 3_600_000)
        let keepMinute = minute >= firstMinute
        // In its minute (folded into the hour when the minute is over, `MinuteFold`), or in
        // its hour when the minute is past its retention. The field is built in one scratch
        // buffer and looked up: only a field new to the batch keeps its bytes (the next
        // field then starts a buffer of its own); a counter names it by its place.
        func count(_ build: (inout [UInt8]) -> Void) {
            fieldScratch.bytes.removeAll(keepingCapacity: true)
            build(&fieldScratch.bytes)
            let f: Int32
            if let known = fieldIndex[fieldScratch] { f = known } else {
                f = Int32(fieldNames.count)
                fieldNames.append(fieldScratch.bytes)
                fieldIndex[fieldScratch] = f
            }
            counters[Counter(hour: !keepMinute, bucket: keepMinute ? minute : hour, field: f), default: 0] += 1
        }
        /// ":" and the value as the script's `tostring` writes it.
        func part(_ v: StoredValue, _ out: inout [UInt8]) {
            out.append(0x3A)
            t.appendLuaText(v, to: &out)
        }
        if before.createdStamp == 0 && t.stamps[Self.created] != 0 {
            count { f in
                f += Self.createdWord
                part(t.values[Self.channel], &f); part(t.values[Self.priority], &f); part(t.values[Self.queue], &f)
            }
        }
        let st = t.values[Self.status]
        if st.isSet && !t.same(st, before.status) {
            count { f in
                f += Self.statusWord
                if before.status.isSet { part(before.status, &f) } else { f.append(0x3A); f += Self.noneWord }
                part(st, &f)
            }
        }
        if !before.first.isSet && t.values[Self.first].isSet { count { $0 += Self.firstResponseWord } }
        if t.values[Self.solved].isSet && !t.same(t.values[Self.solved], before.solved) { count { $0 += Self.solvedWord } }
        if t.values[Self.reopen].isSet && before.reopen.isSet, let now = t.number(t.values[Self.reopen]), let was = t.number(before.reopen), now > was {
            count { $0 += Self.reopenedWord }
        }
        if t.values[Self.csat].isSet && !t.same(t.values[Self.csat], before.csat) {
            count { f in f += Self.csatWord; part(t.values[Self.csat], &f) }
        }
    }

    static let createdWord = Array("created".utf8), statusWord = Array("status".utf8), noneWord = Array("none".utf8)
    static let firstResponseWord = Array("first_response".utf8), solvedWord = Array("solved".utf8)
    static let reopenedWord = Array("reopened".utf8), csatWord = Array("csat".utf8)

    /// The event's vector into the ticket's, and whether its dot (writer, own counter) is new.
    static func admit(_ e: TicketEvent, _ t: inout TicketState) -> Bool {
        var wi = -1
        var own: Int64 = 0
        for (name, c) in e.vv {
            let idx: Int
            if let j = t.index(of: name) { idx = j } else { idx = t.addWriter(name) }
            if c > t.writers[idx].count { t.writers[idx].count = c }
            if name == e.writer { wi = idx; own = c }
        }
        precondition(wi >= 0, "the vector includes the writer (TicketEvent's init checks it)")
        guard own > t.writers[wi].prefix else { return false }
        let dot = own * 64 + Int64(wi)
        if t.pending.contains(dot) { return false }
        if own == t.writers[wi].prefix + 1 {
            t.writers[wi].prefix = own
            var next = (own + 1) * 64 + Int64(wi)
            while t.pending.remove(next) != nil {
                t.writers[wi].prefix += 1
                next += 64
            }
        } else {
            t.pending.insert(dot)
        }
        return true
    }

    /// Each field the event wins (greater lamport, ties to the greater writer bytes); true
    /// when any changed.
    static func mergeFields(_ e: TicketEvent, writerIndex wi: Int, _ t: inout TicketState) -> Bool {
        let lam = e.lamport
        let stamp = lam * 64 + Int64(wi)
        var changed = false
        for (c, raw) in e.fields {
            let old = t.stamps[c]
            var win = old == 0
            if !win {
                let oldLam = old >> 6
                if lam > oldLam { win = true }
                else if lam == oldLam {
                    let other = Int(old & 63)
                    win = other != wi && t.name(other).lexicographicallyPrecedes(t.name(wi))
                }
            }
            if win {
                t.values[c] = t.store(raw)
                t.stamps[c] = stamp
                changed = true
            }
        }
        return changed
    }

    /// The change-log line (`ChangeLogEntry`): id|at|writer|lamport|fields|status
    /// before|after|agent before|after, where "after" is what the event left when it set it.
    static func appendLogLine(_ e: TicketEvent, writer: ArraySlice<UInt8>, state t: TicketState, to line: inout [UInt8],
                              status: (StoredValue, StoredValue), agent: (StoredValue, StoredValue)) {
        DecimalInteger.append(e.id, to: &line); line.append(0x7C)
        DecimalInteger.append(e.at, to: &line); line.append(0x7C)
        line += writer; line.append(0x7C)
        DecimalInteger.append(e.lamport, to: &line); line.append(0x7C)
        for (k, f) in e.fields.enumerated() {
            if k > 0 { line.append(0x2C) }
            line += names[f.column]
        }
        line.append(0x7C)
        if status.0.isSet { t.appendLuaText(status.0, to: &line) }
        line.append(0x7C)
        if status.1.isSet { t.appendLuaText(status.1, to: &line) }
        line.append(0x7C)
        t.appendDigits(agent.0, to: &line); line.append(0x7C)
        t.appendDigits(agent.1, to: &line)
    }
}
