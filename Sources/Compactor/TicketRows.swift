import HotTier
import StrataCore

/// Hot-tier values as segment columns.
enum TicketRows {
    /// The `tickets` columns as segments store them (`Tables.ticketsStored`), straight
    /// from the stored arrays: the 17 columns, then each ticket's merge state.
    static func columns(_ tickets: [SelectedTicket]) throws -> [ColumnVector] {
        let defs = Tables.tickets.columns
        let idColumn = Tables.tickets.idColumnIndex, versionColumn = Tables.tickets.index(of: "version")!
        var cols = Tables.ticketsStored.columns.map { ColumnVector.empty(for: $0.type) }
        for c in cols.indices { cols[c].reserveCapacity(tickets.count) }
        for t in tickets {
            let flat = t.flat
            for (i, def) in defs.enumerated() {
                if i == idColumn { cols[i].appendInteger(t.id); continue }
                if i == versionColumn { cols[i].appendInteger(flat.version); continue }
                let value = flat.setColumns & (1 << UInt32(i)) == 0 ? .null : flat.values[i]
                switch value {
                case .null:
                    if def.nullable { cols[i].appendNull() } else if def.type.isInteger { cols[i].appendInteger(0) } else { cols[i].appendString(Array(defaultEnum(def).utf8)) }
                case .integer(let n):
                    if def.type.isInteger { cols[i].appendInteger(n) } else { cols[i].appendString(Array(String(n).utf8)) }
                case .double(let d):
                    guard def.type.isInteger, let n = Int64(exactly: d.rounded(.towardZero)) else {
                        throw CompactionError.corrupt("ticket \(t.id): \(def.name) holds the number \(d)")
                    }
                    cols[i].appendInteger(n)
                case .string(let r):
                    if def.type.isInteger {
                        // Integers past 2^53 travel through Lua as strings.
                        guard let n = Int64(String(decoding: t.blob[r], as: UTF8.self)) else {
                            throw CompactionError.corrupt("ticket \(t.id): \(def.name) is not an integer")
                        }
                        cols[i].appendInteger(n)
                    } else {
                        cols[i].appendString(t.blob[r])
                    }
                }
            }
            cols[defs.count].appendString(flat.mergeState(t.blob))
        }
        return cols
    }

    /// A ticket created by a late patch may lack a non-nullable field until its create
    /// arrives; in a segment such a field takes the type's zero (documented in docs/tiering.md).
    static func defaultEnum(_ def: ColumnDef) -> String {
        if case .enumeration(let values) = def.type { return values[0] }
        return ""
    }

    /// Change-log entries (`id|at|writer|lamport|fields|s0|s1|g0|g1`) as `ticket_events` columns.
    static func eventColumns(_ entries: [[UInt8]]) throws -> [ColumnVector] {
        var cols = Tables.ticketEvents.columns.map { ColumnVector.empty(for: $0.type) }
        for c in cols.indices { cols[c].reserveCapacity(entries.count) }
        let statuses = Tables.ticketStatuses.map { Array($0.utf8) }
        var cuts = [Int](repeating: 0, count: 10)
        for e in entries {
            var k = 1
            for (i, byte) in e.enumerated() where byte == 0x7C {
                guard k < 9 else { k = 10; break }
                cuts[k] = i + 1
                k += 1
            }
            cuts[0] = 0
            cuts[9] = e.count + 1
            func field(_ j: Int) -> ArraySlice<UInt8> { e[cuts[j]..<cuts[j + 1] - 1] }
            guard k == 9, let id = integer(field(0)), let at = integer(field(1)), let lamport = integer(field(3)) else {
                throw CompactionError.corrupt("malformed change-log entry \"\(String(decoding: e.prefix(80), as: UTF8.self))\"")
            }
            cols[0].appendInteger(id)
            cols[1].appendInteger(at)
            cols[2].appendString(field(2))
            cols[3].appendInteger(lamport)
            cols[4].appendString(field(4))
            for j in [5, 6] {
                let text = field(j)
                if statuses.contains(where: { $0.elementsEqual(text) }) { cols[j].appendString(text) } else { cols[j].appendNull() }
            }
            for j in [7, 8] {
                if let n = integer(field(j)) { cols[j].appendInteger(n) } else { cols[j].appendNull() }
            }
        }
        return cols
    }

    /// A decimal integer (optional minus sign), nil if the bytes are anything else.
    static func integer(_ b: ArraySlice<UInt8>) -> Int64? {
        var i = b.startIndex
        let negative = i < b.endIndex && b[i] == 0x2D
        if negative { i += 1 }
        guard i < b.endIndex, b.endIndex - i <= 19 else { return nil }
        var v: Int64 = 0
        while i < b.endIndex {
            let d = b[i] &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (r, o2) = m.addingReportingOverflow(Int64(d))
            guard !o1 && !o2 else { return nil }
            v = r
            i += 1
        }
        return negative ? -v : v
    }
}
