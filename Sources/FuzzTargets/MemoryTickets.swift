import Query
import StrataCore

/// A `tickets` table held in memory, delivered in batches of `batchRows` (so that two
/// threads each get some), for fuzzing the engine without files or Redis.
struct MemoryTickets: TableSource {
    let columns: [ColumnVector]
    let count: Int
    let batchRows = 4

    /// Rows of `Tables.tickets` as text (nil: null), timestamps in RFC 3339.
    init(rows: [[String?]]) {
        let schema = Tables.ticketsStored
        var cols = schema.columns.map { c in ColumnVector(values: c.type.isInteger ? .integers([]) : .strings(StringColumn())) }
        for row in rows {
            for (i, c) in schema.columns.enumerated() {
                guard i < row.count, let text = row[i] else { cols[i].appendNull(); continue }
                if c.type == .timestamp { cols[i].appendInteger(Timestamp.parse(text)!) }
                else if c.type.isInteger { cols[i].appendInteger(Int64(text)!) }
                else { cols[i].appendString(Array(text.utf8)) }
            }
        }
        columns = cols
        count = rows.count
    }

    func scan(table: TableSchema, columns names: [String], ranges: [String: ClosedRange<Int64>], planOnly: Bool, threads: Int,
              _ body: @Sendable (Int, [ColumnVector], Int, [Int]?) throws -> Void) throws -> ScanStats {
        guard table.name == Tables.tickets.name else { throw QueryError(.name, "no table \(table.name) in the fuzz source", offset: nil) }
        let stored = Tables.ticketsStored
        let wanted = try names.map { n -> Int in
            guard let i = stored.index(of: n) else { throw QueryError(.name, "no column \(n)", offset: nil) }
            return i
        }
        var stats = ScanStats()
        stats.hotRows = count
        if planOnly { return stats }
        var start = 0, worker = 0
        while start < count {
            let n = min(batchRows, count - start)
            try body(worker, wanted.map { columns[$0].slice(start, n) }, n, nil)
            start += n
            worker = (worker + 1) % max(1, threads)
        }
        return stats
    }
}

/// Edge values of every column: nulls, the ends of the integer types, leap days, year ends,
/// quotes, commas, LIKE's `%` and `_`, non-ASCII text, empty strings.
enum EdgeTickets {
    // id, created_at, updated_at, first_response_at, solved_at, closed_at, status, priority,
    // channel, queue, agent_id, customer_id, subject, tags, satisfaction, reopen_count, version
    static let rows: [[String?]] = [
        ["1", "2026-10-04T23:59:59.999Z", "2026-10-04T23:59:59.999Z", nil, nil, nil, "new", "low", "email", "billing", nil, "1", "a", "", nil, "0", "1"],
        ["2", "2026-10-05T00:00:00Z", "2026-10-06T00:00:00Z", "2026-10-05T00:30:00Z", "2026-10-06T00:00:00Z", nil, "solved", "high", "chat", "billing", "7", "1", "b", "x", "5", "0", "3"],
        ["3", "2026-12-31T23:30:00Z", "2027-01-01T00:30:00Z", "2027-01-01T00:00:00Z", nil, nil, "open", "normal", "web", "sales", "7", "2", "c,d", "y,z", "1", "2", "9"],
        ["4", "2026-10-05T00:00:00Z", "2026-10-05T12:00:00Z", nil, nil, nil, "pending", "urgent", "phone", "refunds", "8", "3", "ünïcode ✓", "", nil, "1", "2"],
        ["5", "2026-10-05T00:00:00Z", "2026-10-05T12:00:00Z", "2026-10-05T06:00:00Z", "2026-10-05T12:00:00Z", "2026-10-07T00:00:00Z", "closed", "urgent", "api", "refunds", "8", "4", "say \"hi\"", "x", "4", "0", "4"],
        ["6", "2024-02-29T12:00:00Z", "2024-03-01T00:00:00Z", "2024-02-29T13:00:00Z", "2024-03-01T00:00:00Z", "2024-03-01T00:00:00Z", "closed", "low", "wechat", "technical", "9", "5", "leap", "", "3", "0", "5"],
        ["7", "2026-10-05T00:00:00Z", "2026-10-05T00:00:00Z", nil, nil, nil, "new", "normal", "email", "billing", nil, "6", "tie", "", nil, "0", "1"],
        ["8", "1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z", nil, "solved", "high", "email", "sales", "10", "7", "old", "z", nil, "3", "7"],
        ["9223372036854775807", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", nil, nil, nil, "on_hold", "low", "api", "", "9223372036854775807", "9223372036854775807", "100% _done_ \\ 'q'", "a,b,c", "2", "2147483647", "9223372036854775807"],
        ["10", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.001Z", "1969-12-31T23:59:59.999Z", nil, nil, "open", "urgent", "chat", "Billing", "1", "1", "", "", "5", "0", "1"],
        ["11", "2026-03-29T01:30:00Z", "2026-10-25T00:59:59Z", nil, nil, nil, "pending", "normal", "web", "bïlling", nil, "2", "\u{1F469}\u{200D}\u{1F4BB} emoji", "y", nil, "1", "2"],
    ]
}
