import CSQLite

/// A SQLite error, with the statement or operation it came from.
public struct SQLiteError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public let context: String
    public var description: String { "sqlite (\(context)): \(message) [\(code)]" }
}

/// A value bound to or read from a statement.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])

    public var int: Int64? { if case .integer(let v) = self { return v } else { return nil } }
    public var string: String? { if case .text(let v) = self { return v } else { return nil } }
}

/// One SQLite connection (not thread-safe: one owner at a time).
public final class SQLiteDatabase: @unchecked Sendable {
    private var db: OpaquePointer?
    public let path: String

    /// SQLite copies bound text and blobs (SQLITE_TRANSIENT, which Swift does not import).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw SQLiteError(code: rc, message: message, context: "open \(path)")
        }
        sqlite3_busy_timeout(db, 5000)
    }

    deinit { sqlite3_close(db) }

    func check(_ rc: Int32, _ context: String) throws {
        guard rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW else {
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(db)), context: context)
        }
    }

    /// Runs statements with no results (and no parameters).
    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let message = err.map { String(cString: $0) } ?? ""
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: message, context: String(sql.prefix(80)))
        }
    }

    /// Runs one statement with parameters; returns all rows.
    @discardableResult
    public func query(_ sql: String, _ params: [SQLValue] = []) throws -> [[SQLValue]] {
        var stmt: OpaquePointer?
        try check(sqlite3_prepare_v2(db, sql, -1, &stmt, nil), String(sql.prefix(80)))
        defer { sqlite3_finalize(stmt) }
        try bind(stmt, params, sql)
        var rows = [[SQLValue]]()
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            try check(rc, String(sql.prefix(80)))
            var row = [SQLValue]()
            for c in 0..<sqlite3_column_count(stmt) {
                switch sqlite3_column_type(stmt, c) {
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(stmt, c)))
                case SQLITE_TEXT: row.append(.text(String(cString: sqlite3_column_text(stmt, c))))
                case SQLITE_BLOB:
                    let n = Int(sqlite3_column_bytes(stmt, c))
                    let p = sqlite3_column_blob(stmt, c)
                    row.append(.blob(n == 0 ? [] : Array(UnsafeRawBufferPointer(start: p, count: n))))
                default: row.append(.null)
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// Runs one statement once per parameter row, prepared once (bulk inserts).
    public func executeMany(_ sql: String, _ rows: [[SQLValue]]) throws {
        var stmt: OpaquePointer?
        try check(sqlite3_prepare_v2(db, sql, -1, &stmt, nil), String(sql.prefix(80)))
        defer { sqlite3_finalize(stmt) }
        for params in rows {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
            try bind(stmt, params, sql)
            let rc = sqlite3_step(stmt)
            guard rc == SQLITE_DONE else { try check(rc == SQLITE_ROW ? SQLITE_MISUSE : rc, String(sql.prefix(80))); return }
        }
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }

    private func bind(_ stmt: OpaquePointer?, _ params: [SQLValue], _ sql: String) throws {
        for (i, p) in params.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch p {
            case .null: rc = sqlite3_bind_null(stmt, index)
            case .integer(let v): rc = sqlite3_bind_int64(stmt, index, v)
            case .text(let s): rc = sqlite3_bind_text(stmt, index, s, -1, Self.transient)
            case .blob(let b): rc = b.withUnsafeBytes { sqlite3_bind_blob(stmt, index, $0.baseAddress, Int32(b.count), Self.transient) }
            }
            try check(rc, "bind \(i + 1) of \(sql.prefix(60))")
        }
    }

    /// Runs `body` in one transaction (BEGIN IMMEDIATE: the write lock is taken up front).
    public func transaction<R>(_ body: () throws -> R) throws -> R {
        try execute("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try execute("COMMIT")
            return r
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}
