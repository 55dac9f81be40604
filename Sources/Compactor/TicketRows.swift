import HotTier
import StrataCore

/// Hot-tier values as segment columns.
enum TicketRows {
    static func columns(_ tickets: [HotTicket]) -> [ColumnVector] {
        Tables.tickets.columns.enumerated().map { (i, def) in
            var v = ColumnVector.empty(for: def.type)
            v.reserveCapacity(tickets.count)
            for t in tickets {
                switch t.values[i] {
                case nil, .null?:
                    if def.nullable { v.appendNull() } else if def.type.isInteger { v.appendInteger(0) } else { v.appendString(def.type == .string ? Array("".utf8) : Array(defaultEnum(def).utf8)) }
                case .integer(let n)?: v.appendInteger(n)
                case .string(let s)?: v.appendString(Array(s.utf8))
                }
            }
            return v
        }
    }

    /// The `_merge_state` column: each ticket's stored array with its values blanked.
    static func mergeStates(_ blobs: [[UInt8]]) throws -> ColumnVector {
        var v = ColumnVector.empty(for: .string)
        v.reserveCapacity(blobs.count)
        for b in blobs { v.appendString(try MergeState.blankValues(b)) }
        return v
    }

    /// A ticket created by a late patch may lack a non-nullable field until its create
    /// arrives; in a segment such a field takes the type's zero (documented in docs/tiering.md).
    static func defaultEnum(_ def: ColumnDef) -> String {
        if case .enumeration(let values) = def.type { return values[0] }
        return ""
    }

    /// Change-log entries (`id|at|writer|lamport|fields|s0|s1|g0|g1`) as `ticket_events` columns.
    static func eventColumns(_ entries: [String]) throws -> [ColumnVector] {
        var cols = Tables.ticketEvents.columns.map { ColumnVector.empty(for: $0.type) }
        for e in entries {
            let p = e.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard p.count == 9, let id = Int64(p[0]), let at = Int64(p[1]), let lamport = Int64(p[3]) else {
                throw CompactionError.corrupt("malformed change-log entry \"\(e.prefix(80))\"")
            }
            cols[0].appendInteger(id)
            cols[1].appendInteger(at)
            cols[2].appendString(Array(p[2].utf8))
            cols[3].appendInteger(lamport)
            cols[4].appendString(Array(p[4].utf8))
            for (k, text) in [(5, p[5]), (6, p[6])] {
                if text.isEmpty || !Tables.ticketStatuses.contains(text) { cols[k].appendNull() } else { cols[k].appendString(Array(text.utf8)) }
            }
            for (k, text) in [(7, p[7]), (8, p[8])] {
                if let n = Int64(text) { cols[k].appendInteger(n) } else { cols[k].appendNull() }
            }
        }
        return cols
    }
}
