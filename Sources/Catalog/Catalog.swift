#if canImport(Glibc)
import Glibc
#endif

/// The catalog: which segment files are live, their ranges, the rows later versions
/// superseded, and the compaction runs. SQLite in WAL mode, `DATA/catalog.sqlite`.
/// The catalog, not the directory listing, says which segments a reader may read.
public final class Catalog: @unchecked Sendable {
    /// Schema migrations, applied in order; never edit one that has shipped, append.
    static let migrations: [String] = [
        """
        CREATE TABLE segments (
            id          INTEGER PRIMARY KEY,
            table_name  TEXT    NOT NULL,
            file        TEXT    NOT NULL UNIQUE,
            rows        INTEGER NOT NULL CHECK (rows >= 0),
            bytes       INTEGER NOT NULL CHECK (bytes >= 0),
            min_id      INTEGER,
            max_id      INTEGER,
            min_time    INTEGER,
            max_time    INTEGER,
            state       TEXT    NOT NULL CHECK (state IN ('live', 'retired')),
            created_at  INTEGER NOT NULL,
            run_id      INTEGER
        );
        CREATE INDEX segments_by_ids ON segments (table_name, state, min_id, max_id);
        CREATE TABLE deletion_vectors (
            segment_id  INTEGER PRIMARY KEY REFERENCES segments (id),
            rows        BLOB    NOT NULL,
            count       INTEGER NOT NULL
        );
        CREATE TABLE runs (
            id          INTEGER PRIMARY KEY,
            kind        TEXT    NOT NULL,
            state       TEXT    NOT NULL,
            step        TEXT    NOT NULL,
            started_at  INTEGER NOT NULL,
            finished_at INTEGER,
            detail      TEXT    NOT NULL DEFAULT ''
        );
        """,
        """
        CREATE TABLE run_items (
            run_id      INTEGER NOT NULL REFERENCES runs (id),
            ticket_id   INTEGER NOT NULL,
            shard       INTEGER NOT NULL,
            blob        BLOB    NOT NULL,
            PRIMARY KEY (run_id, ticket_id)
        );
        CREATE TABLE run_log_entries (
            run_id      INTEGER NOT NULL REFERENCES runs (id),
            shard       INTEGER NOT NULL,
            entry       TEXT    NOT NULL
        );
        CREATE TABLE run_files (
            run_id      INTEGER NOT NULL REFERENCES runs (id),
            file        TEXT    NOT NULL
        );
        """,
        // What a migration run selected, one row per shard (a row per ticket cost more
        // than the rest of the run): tickets packed as id (i64, little-endian) + the
        // SHA-1 of its snapshot (20 bytes); change-log entry ids separated by '\n'.
        """
        CREATE TABLE run_shards (
            run_id      INTEGER NOT NULL REFERENCES runs (id),
            shard       INTEGER NOT NULL,
            tickets     BLOB    NOT NULL,
            entries     TEXT    NOT NULL,
            PRIMARY KEY (run_id, shard)
        );
        """,
        // Runs done (migrations, and rollups since run_counters) whose Redis deletes are not
        // yet known to be durable: their selection (run_shards) is kept until a run a minute
        // later finds each shard's sentinel (`st:{s}:cd`) at or past them, or does their
        // deletes again (docs/tiering.md, "When Redis loses a run's deletes").
        """
        CREATE TABLE unsettled_runs (
            run_id      INTEGER PRIMARY KEY REFERENCES runs (id),
            finished_at INTEGER NOT NULL
        );
        """,
        // What a rollup run moved, per shard: each hour hash's counters as it read them
        // (`Catalog.packCounters`), kept with the run's selection until it is settled, so
        // that an hour hash Redis brings back can have exactly those counts taken out.
        """
        CREATE TABLE run_counters (
            run_id      INTEGER NOT NULL REFERENCES runs (id),
            shard       INTEGER NOT NULL,
            counters    BLOB    NOT NULL,
            PRIMARY KEY (run_id, shard)
        );
        """,
    ]

    public struct Segment: Sendable, Equatable {
        public var id: Int64
        public var table: String
        /// Path relative to the data directory (e.g. `cold/tickets/tickets-….seg`).
        public var file: String
        public var rows: Int64
        public var bytes: Int64
        public var minID: Int64?
        public var maxID: Int64?
        public var minTime: Int64?
        public var maxTime: Int64?
        public var state: String
        public var createdAt: Int64

        public init(id: Int64, table: String, file: String, rows: Int64, bytes: Int64, minID: Int64?, maxID: Int64?,
                    minTime: Int64?, maxTime: Int64?, state: String, createdAt: Int64) {
            self.id = id
            self.table = table
            self.file = file
            self.rows = rows
            self.bytes = bytes
            self.minID = minID
            self.maxID = maxID
            self.minTime = minTime
            self.maxTime = maxTime
            self.state = state
            self.createdAt = createdAt
        }
    }

    public let db: SQLiteDatabase

    public init(path: String) throws {
        db = try SQLiteDatabase(path: path)
        try db.execute("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        // Switching to WAL needs a moment alone with the file; another opener may hold it.
        for attempt in 0..<100 {
            do {
                if try db.query("PRAGMA journal_mode").first?.first?.string != "wal" { try db.execute("PRAGMA journal_mode = WAL") }
                break
            } catch let e as SQLiteError where (e.code == 5 || e.code == 6) && attempt < 99 {
                usleep(10_000)
            }
        }
        try migrate()
    }

    public var schemaVersion: Int {
        (try? db.query("PRAGMA user_version").first?.first?.int).flatMap { $0 }.map(Int.init) ?? 0
    }

    /// Applies the missing migrations. Safe when several processes open a new catalog at
    /// once: each step reads the version under the write lock (BEGIN IMMEDIATE), so a
    /// migration another opener already applied is not applied twice.
    func migrate() throws {
        while true {
            let done = try db.transaction { () -> Bool in
                let current = schemaVersion
                guard current <= Self.migrations.count else {
                    throw SQLiteError(code: 0, message: "catalog schema version \(current) is newer than this build knows (\(Self.migrations.count)); upgrade strata",
                                      context: db.path)
                }
                if current == Self.migrations.count { return true }
                try db.execute(Self.migrations[current])
                try db.execute("PRAGMA user_version = \(current + 1)")
                return false
            }
            if done { return }
        }
    }

    /// Registers segments as live, all or none.
    @discardableResult
    public func register(_ segments: [Segment]) throws -> [Int64] {
        try db.transaction {
            try segments.map { s in
                try db.query("""
                    INSERT INTO segments (table_name, file, rows, bytes, min_id, max_id, min_time, max_time, state, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live', ?)
                    """, [.text(s.table), .text(s.file), .integer(s.rows), .integer(s.bytes), opt(s.minID), opt(s.maxID),
                          opt(s.minTime), opt(s.maxTime), .integer(s.createdAt)])
                return db.lastInsertRowID
            }
        }
    }

    /// Live segments of a table, oldest first.
    public func liveSegments(table: String) throws -> [Segment] {
        try db.query("SELECT \(Self.segmentColumns) FROM segments WHERE table_name = ? AND state = 'live' ORDER BY id", [.text(table)]).map(Self.segment)
    }

    /// Live segments of every table, oldest first.
    public func liveSegments() throws -> [Segment] {
        try db.query("SELECT \(Self.segmentColumns) FROM segments WHERE state = 'live' ORDER BY id").map(Self.segment)
    }

    /// Live segments whose id range may hold `id` (a point lookup reads only these).
    public func segments(table: String, containing id: Int64) throws -> [Segment] {
        try db.query("SELECT \(Self.segmentColumns) FROM segments WHERE table_name = ? AND state = 'live' AND min_id <= ? AND max_id >= ? ORDER BY id",
                     [.text(table), .integer(id), .integer(id)]).map(Self.segment)
    }

    public func allSegments() throws -> [Segment] {
        try db.query("SELECT \(Self.segmentColumns) FROM segments ORDER BY id").map(Self.segment)
    }

    // MARK: compaction runs

    public struct Run: Sendable, Equatable {
        public var id: Int64
        public var kind: String
        public var state: String
        public var step: String
        public init(id: Int64, kind: String, state: String, step: String) {
            self.id = id
            self.kind = kind
            self.state = state
            self.step = step
        }
    }

    public func startRun(kind: String, now: Int64) throws -> Int64 {
        try db.query("INSERT INTO runs (kind, state, step, started_at) VALUES (?, 'running', 'started', ?)", [.text(kind), .integer(now)])
        return db.lastInsertRowID
    }

    public func setStep(run: Int64, _ step: String) throws {
        try db.query("UPDATE runs SET step = ? WHERE id = ?", [.text(step), .integer(run)])
    }

    /// Ends a run. `unsettled`: a run done (a migration or a rollup), whose selection is kept
    /// (a migration's tickets with their digests and its log entries; a rollup's hours and
    /// counters) until `settle(run:)`, for doing its Redis deletes again should Redis lose them.
    public func finishRun(run: Int64, state: String, now: Int64, detail: String = "", unsettled: Bool = false) throws {
        try db.transaction {
            try db.query("UPDATE runs SET state = ?, finished_at = ?, detail = ? WHERE id = ?", [.text(state), .integer(now), .text(detail), .integer(run)])
            try db.query("DELETE FROM run_files WHERE run_id = ?", [.integer(run)])
            if unsettled {
                try db.query("INSERT OR REPLACE INTO unsettled_runs (run_id, finished_at) VALUES (?, ?)", [.integer(run), .integer(now)])
            } else {
                try dropSelection(run)
            }
        }
    }

    private func dropSelection(_ run: Int64) throws {
        try db.query("DELETE FROM run_items WHERE run_id = ?", [.integer(run)])
        try db.query("DELETE FROM run_log_entries WHERE run_id = ?", [.integer(run)])
        try db.query("DELETE FROM run_shards WHERE run_id = ?", [.integer(run)])
        try db.query("DELETE FROM run_counters WHERE run_id = ?", [.integer(run)])
        try db.query("DELETE FROM unsettled_runs WHERE run_id = ?", [.integer(run)])
    }

    /// Runs done (migrations and rollups) whose Redis deletes are not yet known to be
    /// durable, oldest first.
    public func unsettledRuns() throws -> [(run: Int64, finishedAt: Int64, kind: String)] {
        try db.query("SELECT u.run_id, u.finished_at, r.kind FROM unsettled_runs u JOIN runs r ON r.id = u.run_id ORDER BY u.run_id").map {
            ($0[0].int!, $0[1].int!, $0[2].string!)
        }
    }

    /// One hour hash's counter as a rollup moved it.
    public struct MovedCounter: Sendable, Equatable {
        public var shard: Int
        public var hour: Int64
        public var field: String
        public var value: Int64
        public init(shard: Int, hour: Int64, field: String, value: Int64) {
            self.shard = shard
            self.hour = hour
            self.field = field
            self.value = value
        }
    }

    /// Records what a rollup run read from its moving keys (one row per shard), before its
    /// segment is registered.
    public func recordCounters(run: Int64, _ counters: [MovedCounter]) throws {
        let byShard = Dictionary(grouping: counters, by: \.shard)
        try db.transaction {
            try db.executeMany("INSERT OR REPLACE INTO run_counters (run_id, shard, counters) VALUES (?, ?, ?)",
                               byShard.keys.sorted().map { [.integer(run), .integer(Int64($0)), .blob(Self.packCounters(byShard[$0]!))] })
        }
    }

    /// The counters a rollup run recorded (`recordCounters`).
    public func runCounters(_ run: Int64) throws -> [MovedCounter] {
        var out = [MovedCounter]()
        for row in try db.query("SELECT shard, counters FROM run_counters WHERE run_id = ? ORDER BY shard", [.integer(run)]) {
            guard case .blob(let b) = row[1], let counters = Self.unpackCounters(b, shard: Int(row[0].int!)) else {
                throw SQLiteError(code: 0, message: "run \(run): the counters of shard \(row[0].int ?? -1) are damaged", context: "run_counters")
            }
            out += counters
        }
        return out
    }

    /// A shard's moved counters packed: per counter its hour and value (i64 each,
    /// little-endian), its field's length (u32) and the field's UTF-8 bytes.
    static func packCounters(_ counters: [MovedCounter]) -> [UInt8] {
        var out = [UInt8]()
        for c in counters {
            withUnsafeBytes(of: c.hour.littleEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: c.value.littleEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt32(c.field.utf8.count).littleEndian) { out.append(contentsOf: $0) }
            out.append(contentsOf: c.field.utf8)
        }
        return out
    }

    /// `packCounters` read back; nil when the bytes do not parse to the end.
    static func unpackCounters(_ b: [UInt8], shard: Int) -> [MovedCounter]? {
        func int(_ at: Int, _ width: Int) -> UInt64 { (0..<width).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) } }
        var out = [MovedCounter](), k = 0
        while k < b.count {
            guard b.count - k >= 20 else { return nil }
            let length = Int(int(k + 16, 4))
            guard b.count - k - 20 >= length, let field = String(validating: b[k + 20..<k + 20 + length], as: UTF8.self) else { return nil }
            out.append(MovedCounter(shard: shard, hour: Int64(bitPattern: int(k, 8)), field: field, value: Int64(bitPattern: int(k + 8, 8))))
            k += 20 + length
        }
        return out
    }

    /// A run's deletes are durable: its selection goes.
    public func settle(run: Int64) throws {
        try db.transaction { try dropSelection(run) }
    }

    public func unfinishedRuns() throws -> [Run] {
        try db.query("SELECT id, kind, state, step FROM runs WHERE state = 'running' ORDER BY id").map {
            Run(id: $0[0].int!, kind: $0[1].string!, state: $0[2].string!, step: $0[3].string!)
        }
    }

    /// Bytes per ticket in `run_shards.tickets`: id and SHA-1 digest.
    static let packedTicketBytes = 28

    /// Records what a run selected (each ticket's snapshot digest for compare-and-delete,
    /// log entry ids) and the files it will write, in one transaction, before anything is written.
    public func recordSelection(run: Int64, items: [(ticket: Int64, shard: Int, digest: [UInt8])],
                                logEntries: [(shard: Int, entry: String)], files: [String]) throws {
        var tickets = [Int: [UInt8]](), entries = [Int: [String]]()
        for item in items {
            precondition(item.digest.count == 20, "a snapshot digest is a SHA-1")
            withUnsafeBytes(of: item.ticket.littleEndian) { tickets[item.shard, default: []].append(contentsOf: $0) }
            tickets[item.shard]!.append(contentsOf: item.digest)
        }
        for e in logEntries {
            precondition(!e.entry.contains("\n"), "a stream entry id has no newline")
            entries[e.shard, default: []].append(e.entry)
        }
        try db.transaction {
            try db.executeMany("INSERT INTO run_shards (run_id, shard, tickets, entries) VALUES (?, ?, ?, ?)",
                               Set(tickets.keys).union(entries.keys).sorted().map {
                                   [.integer(run), .integer(Int64($0)), .blob(tickets[$0] ?? []), .text((entries[$0] ?? []).joined(separator: "\n"))]
                               })
            for f in files { try db.query("INSERT INTO run_files (run_id, file) VALUES (?, ?)", [.integer(run), .text(f)]) }
            try db.query("UPDATE runs SET step = 'selected' WHERE id = ?", [.integer(run)])
        }
    }

    /// The tickets a run selected, in id order, each with its snapshot digest (runs
    /// recorded by an older version kept the whole snapshot instead: `blob` is then longer).
    public func runItems(_ run: Int64) throws -> [(ticket: Int64, shard: Int, blob: [UInt8])] {
        var out = try db.query("SELECT ticket_id, shard, blob FROM run_items WHERE run_id = ?", [.integer(run)]).map {
            guard case .blob(let b) = $0[2] else { return ($0[0].int!, Int($0[1].int!), [UInt8]()) }
            return ($0[0].int!, Int($0[1].int!), b)
        }
        for row in try db.query("SELECT shard, tickets FROM run_shards WHERE run_id = ?", [.integer(run)]) {
            guard case .blob(let b) = row[1], b.count % Self.packedTicketBytes == 0 else {
                throw SQLiteError(code: 0, message: "run \(run): packed tickets of shard \(row[0].int ?? -1) are damaged", context: "run_shards")
            }
            for k in stride(from: 0, to: b.count, by: Self.packedTicketBytes) {
                var id: UInt64 = 0
                for j in 0..<8 { id |= UInt64(b[k + j]) << (8 * UInt64(j)) }
                out.append((Int64(bitPattern: id), Int(row[0].int!), Array(b[k + 8..<k + Self.packedTicketBytes])))
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// The shards a run recorded a selection on (tickets, log entries, or a rollup's hours).
    public func runShards(_ run: Int64) throws -> [Int] {
        try db.query("""
            SELECT shard FROM run_shards WHERE run_id = ?1 UNION SELECT shard FROM run_items WHERE run_id = ?1
            UNION SELECT shard FROM run_log_entries WHERE run_id = ?1 ORDER BY shard
            """, [.integer(run)]).map { Int($0[0].int!) }
    }

    public func runLogEntries(_ run: Int64) throws -> [(shard: Int, entry: String)] {
        var out = try db.query("SELECT shard, entry FROM run_log_entries WHERE run_id = ?", [.integer(run)]).map { (Int($0[0].int!), $0[1].string!) }
        for row in try db.query("SELECT shard, entries FROM run_shards WHERE run_id = ?", [.integer(run)]) {
            let text = row[1].string ?? ""
            if text.isEmpty { continue }
            out += text.split(separator: "\n").map { (Int(row[0].int!), String($0)) }
        }
        return out
    }

    public func runFiles(_ run: Int64) throws -> [String] {
        try db.query("SELECT file FROM run_files WHERE run_id = ?", [.integer(run)]).map { $0[0].string! }
    }

    /// Registers a run's segments live and moves it to step `registered`, and in the same
    /// transaction supersedes `superseding` (segment id -> rows): the older rows of tickets
    /// the run moves again after they came back from the cold tier, so that no reader ever
    /// sees two current rows of one ticket.
    /// A segment of `superseding` that is no longer live is an error (nothing registered).
    public func registerRunSegments(run: Int64, _ segments: [Segment], superseding: [Int64: [Int]] = [:]) throws -> [Int64] {
        try db.transaction {
            for (segment, rows) in superseding.sorted(by: { $0.key < $1.key }) where !rows.isEmpty {
                guard try db.query("SELECT state FROM segments WHERE id = ?", [.integer(segment)]).first?.first?.string == "live" else {
                    throw SQLiteError(code: 0, message: "run \(run) would supersede rows of segment \(segment), which is not live", context: "register")
                }
                try supersedeInTransaction(segment: segment, rows: rows)
            }
            let ids = try segments.map { s -> Int64 in
                try db.query("""
                    INSERT INTO segments (table_name, file, rows, bytes, min_id, max_id, min_time, max_time, state, created_at, run_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live', ?, ?)
                    """, [.text(s.table), .text(s.file), .integer(s.rows), .integer(s.bytes), opt(s.minID), opt(s.maxID),
                          opt(s.minTime), opt(s.maxTime), .integer(s.createdAt), .integer(run)])
                return db.lastInsertRowID
            }
            try db.query("UPDATE runs SET step = 'registered' WHERE id = ?", [.integer(run)])
            return ids
        }
    }

    public func segments(ofRun run: Int64) throws -> [Segment] {
        try db.query("SELECT \(Self.segmentColumns) FROM segments WHERE run_id = ? ORDER BY id", [.integer(run)]).map(Self.segment)
    }

    /// Replaces `old` segments by `new` ones in one transaction (a merge): the new become
    /// live, the old retired. Retired files are removed later, once no reader can hold them.
    /// `deleted` is how many superseded rows the merge saw in each old segment: a row
    /// superseded since (a ticket reopened meanwhile) would come back live in the new
    /// segments, so then nothing is replaced (`SegmentsChangedDuringMerge`).
    public func replace(run: Int64, old: [Int64], new: [Segment], deleted: [Int64: Int]) throws -> [Int64] {
        try db.transaction {
            for id in old where try deletionVector(segment: id).count != deleted[id] ?? 0 {
                throw SegmentsChangedDuringMerge(segment: id)
            }
            let ids = try new.map { s -> Int64 in
                try db.query("""
                    INSERT INTO segments (table_name, file, rows, bytes, min_id, max_id, min_time, max_time, state, created_at, run_id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'live', ?, ?)
                    """, [.text(s.table), .text(s.file), .integer(s.rows), .integer(s.bytes), opt(s.minID), opt(s.maxID),
                          opt(s.minTime), opt(s.maxTime), .integer(s.createdAt), .integer(run)])
                return db.lastInsertRowID
            }
            for id in old {
                let changed = try db.query("UPDATE segments SET state = 'retired' WHERE id = ? AND state = 'live' RETURNING id", [.integer(id)])
                guard changed.count == 1 else { throw SQLiteError(code: 0, message: "segment \(id) is no longer live", context: "merge") }
            }
            try db.query("UPDATE runs SET step = 'registered' WHERE id = ?", [.integer(run)])
            return ids
        }
    }

    /// Retired segments (their files may still be on disk).
    public func retiredSegments() throws -> [Segment] {
        try db.query("SELECT \(Self.segmentColumns) FROM segments WHERE state = 'retired' ORDER BY id").map(Self.segment)
    }

    /// Marks rows of a segment as superseded (their ticket changed in the hot tier).
    public func supersede(segment: Int64, rows: [Int]) throws {
        guard !rows.isEmpty else { return }
        try db.transaction { try supersedeInTransaction(segment: segment, rows: rows) }
    }

    private func supersedeInTransaction(segment: Int64, rows: [Int]) throws {
        var vector = try deletionVector(segment: segment)
        for r in rows { vector.insert(r) }
        try db.query("INSERT OR REPLACE INTO deletion_vectors (segment_id, rows, count) VALUES (?, ?, ?)",
                     [.integer(segment), .blob(vector.bytes), .integer(Int64(vector.count))])
    }

    /// The superseded rows of a segment (bit i set: row i is no longer current).
    public func deletionVector(segment: Int64) throws -> DeletionVector {
        guard let v = try db.query("SELECT rows FROM deletion_vectors WHERE segment_id = ?", [.integer(segment)]).first?.first,
              case .blob(let b) = v else { return DeletionVector() }
        return DeletionVector(bytes: b)
    }

    /// The deletion vectors of every segment that has one.
    public func deletionVectors() throws -> [Int64: DeletionVector] {
        var out = [Int64: DeletionVector]()
        for r in try db.query("SELECT segment_id, rows FROM deletion_vectors") {
            guard let id = r[0].int, case .blob(let b) = r[1] else { continue }
            out[id] = DeletionVector(bytes: b)
        }
        return out
    }

    /// The columns `segment(_:)` reads, in its order.
    static let segmentColumns = "id, table_name, file, rows, bytes, min_id, max_id, min_time, max_time, state, created_at"

    static func segment(_ r: [SQLValue]) -> Segment {
        Segment(id: r[0].int!, table: r[1].string!, file: r[2].string!, rows: r[3].int!, bytes: r[4].int!, minID: r[5].int,
                maxID: r[6].int, minTime: r[7].int, maxTime: r[8].int, state: r[9].string!, createdAt: r[10].int!)
    }
}

/// A segment being merged had rows superseded after the merge read it.
public struct SegmentsChangedDuringMerge: Error, CustomStringConvertible {
    public let segment: Int64
    public var description: String { "segment \(segment) had rows superseded during the merge" }
}

func opt(_ v: Int64?) -> SQLValue { v.map { .integer($0) } ?? .null }
