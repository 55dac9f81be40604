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
        try db.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        try migrate()
    }

    public var schemaVersion: Int {
        (try? db.query("PRAGMA user_version").first?.first?.int).flatMap { $0 }.map(Int.init) ?? 0
    }

    func migrate() throws {
        let current = schemaVersion
        guard current <= Self.migrations.count else {
            throw SQLiteError(code: 0, message: "catalog schema version \(current) is newer than this build knows (\(Self.migrations.count)); upgrade strata",
                              context: db.path)
        }
        for v in current..<Self.migrations.count {
            try db.transaction {
                try db.execute(Self.migrations[v])
                try db.execute("PRAGMA user_version = \(v + 1)")
            }
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
        try db.query("SELECT id, table_name, file, rows, bytes, min_id, max_id, min_time, max_time, state, created_at FROM segments WHERE table_name = ? AND state = 'live' ORDER BY id", [.text(table)]).map(Self.segment)
    }

    /// Live segments whose id range may hold `id` (a point lookup reads only these).
    public func segments(table: String, containing id: Int64) throws -> [Segment] {
        try db.query("SELECT id, table_name, file, rows, bytes, min_id, max_id, min_time, max_time, state, created_at FROM segments WHERE table_name = ? AND state = 'live' AND min_id <= ? AND max_id >= ? ORDER BY id",
                     [.text(table), .integer(id), .integer(id)]).map(Self.segment)
    }

    public func allSegments() throws -> [Segment] {
        try db.query("SELECT id, table_name, file, rows, bytes, min_id, max_id, min_time, max_time, state, created_at FROM segments ORDER BY id").map(Self.segment)
    }

    static func segment(_ r: [SQLValue]) -> Segment {
        Segment(id: r[0].int!, table: r[1].string!, file: r[2].string!, rows: r[3].int!, bytes: r[4].int!, minID: r[5].int,
                maxID: r[6].int, minTime: r[7].int, maxTime: r[8].int, state: r[9].string!, createdAt: r[10].int!)
    }
}

func opt(_ v: Int64?) -> SQLValue { v.map { .integer($0) } ?? .null }
