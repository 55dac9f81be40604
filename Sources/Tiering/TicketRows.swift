import HotTier
import StrataCore

/// A hot ticket as stored: its id, shard, the stored bytes, where its parse found the
/// values, and (for the compactor's compare-and-delete) the bytes' SHA-1.
/// A class, not a struct: the compactor gathers and orders 40,000 of them a migration; a
/// copy of a struct retained each of its references (perf: 4% of the compactor), a copy of
/// a reference retains once.
public final class SelectedTicket: Sendable {
    public let id: Int64
    public let shard: Int
    public let blob: [UInt8]
    public let digest: [UInt8]
    /// Where the parse found the values (`TicketRows.columns` reads them again from the
    /// blob): no arrays kept per ticket while the value waits for its compare-and-delete.
    public let outline: FlatTicket.Outline

    public init(id: Int64, shard: Int, blob: [UInt8], flat: FlatTicket, digest: [UInt8]) {
        self.id = id
        self.shard = shard
        self.blob = blob
        self.outline = flat.outline
        self.digest = digest
    }
}

/// Hot-tier values as segment columns.
public enum TicketRows {
    /// The `tickets` columns as segments store them (`Tables.ticketsStored`), straight
    /// from the stored arrays: the 17 columns, then each ticket's merge state.
    public static func columns(_ tickets: [SelectedTicket]) throws -> [ColumnVector] {
        let defs = Tables.tickets.columns
        let idColumn = Tables.tickets.idColumnIndex, versionColumn = Tables.tickets.index(of: "version")!
        // What each column needs, worked out once (not per ticket: a column definition is
        // reference-counted, and reading it per value was a third of this function's time).
        let names = defs.map(\.name)
        let nullable = defs.map(\.nullable), integer = defs.map(\.type.isInteger)
        let defaults = defs.map { Array(defaultEnum($0).utf8) }
        // Typed builders, appended to in place (`ColumnVector`'s own appends take its values
        // out of their enum and put them back: two retains and releases a value).
        var cols = Tables.ticketsStored.columns.map { ColumnBuilder(isInteger: $0.type.isInteger, capacity: tickets.count) }
        for ticket in tickets {
            // The ticket's parts, taken once per ticket.
            let id = ticket.id, outline = ticket.outline, blob = ticket.blob
            cols[idColumn].append(id)
            cols[versionColumn].append(outline.version)
            try FlatTicket.forEachValue(blob, outline) { i, stored in
                if i == idColumn || i == versionColumn { return }
                let value = outline.setColumns & (1 << UInt32(i)) == 0 ? .null : stored
                switch value {
                case .null:
                    if nullable[i] { cols[i].appendNull() } else if integer[i] { cols[i].append(0) } else { cols[i].append(defaults[i]) }
                case .integer(let n):
                    if integer[i] { cols[i].append(n) } else { cols[i].append(Array(String(n).utf8)) }
                case .double(let d):
                    guard integer[i], let n = Int64(exactly: d.rounded(.towardZero)) else {
                        throw CorruptHotData("ticket \(id): \(names[i]) holds the number \(d)")
                    }
                    cols[i].append(n)
                case .string(let r):
                    if integer[i] {
                        // Integers past 2^53 travel through Lua as strings.
                        guard let n = Int64(String(decoding: blob[r], as: UTF8.self)) else {
                            throw CorruptHotData("ticket \(id): \(names[i]) is not an integer")
                        }
                        cols[i].append(n)
                    } else {
                        cols[i].append(blob[r])
                    }
                }
            }
            cols[defs.count].appendMergeState(of: outline, blob)
        }
        return cols.map { $0.vector() }
    }

    /// One column being built: its values in their own array, and validity once a null came.
    struct ColumnBuilder {
        let isInteger: Bool
        var integers: [Int64] = []
        var strings = StringColumn()
        var validity: Bitmap? = nil
        var count = 0

        init(isInteger: Bool, capacity: Int) {
            self.isInteger = isInteger
            if isInteger { integers.reserveCapacity(capacity) } else { strings.offsets.reserveCapacity(capacity + 1) }
        }

        mutating func append(_ v: Int64) {
            precondition(isInteger, "an integer appended to a string column")
            validity?.append(true)
            integers.append(v)
            count += 1
        }

        mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
            precondition(!isInteger, "a string appended to an integer column")
            validity?.append(true)
            strings.append(bytes)
            count += 1
        }

        /// A ticket's merge state (`FlatTicket.mergeState`) appended without an array of its own.
        mutating func appendMergeState(of outline: FlatTicket.Outline, _ blob: [UInt8]) {
            precondition(!isInteger, "a merge state appended to an integer column")
            validity?.append(true)
            FlatTicket.appendMergeState(blob, outline, to: &strings.bytes)
            precondition(strings.bytes.count <= Int(UInt32.max), "a string column holds at most 4 GiB")
            strings.offsets.append(UInt32(strings.bytes.count))
            count += 1
        }

        mutating func appendNull() {
            if validity == nil { validity = Bitmap(count: count, allSet: true) }
            validity!.append(false)
            if isInteger { integers.append(0) } else { strings.offsets.append(UInt32(strings.bytes.count)) }
            count += 1
        }

        func vector() -> ColumnVector {
            ColumnVector(values: isInteger ? .integers(integers) : .strings(strings), validity: validity)
        }
    }

    /// A ticket whose create has not arrived lacks non-nullable fields. No reader sees such a
    /// row (SQL leaves incomplete tickets out, and the compactor keeps them hot), but its
    /// columns still need a value of their type: the type's zero, or an enum's first value.
    public static func defaultEnum(_ def: ColumnDef) -> String {
        if case .enumeration(let values) = def.type { return values[0] }
        return ""
    }

    /// Change-log entries' texts (each one or more lines `id|at|writer|lamport|fields|s0|s1|g0|g1`,
    /// `ChangeLogEntry`) as `ticket_events` columns, one row per line.
    public static func eventColumns(_ entries: [[UInt8]]) throws -> [ColumnVector] {
        try eventColumns(lines: entries.flatMap(ChangeLogEntry.lines))
    }

    /// Change-log lines as `ticket_events` columns, one row per line.
    public static func eventColumns(lines: [ArraySlice<UInt8>]) throws -> [ColumnVector] {
        var cols = Tables.ticketEvents.columns.map { ColumnBuilder(isInteger: $0.type.isInteger, capacity: lines.count) }
        let statuses = Tables.ticketStatuses.map { Array($0.utf8) }
        var cuts = [Range<Int>]()
        for e in lines {
            guard ChangeLogEntry.fields(e, into: &cuts) else {
                throw CorruptHotData("malformed change-log line \"\(String(decoding: e.prefix(80), as: UTF8.self))\" (not \(ChangeLogEntry.fieldCount) fields)")
            }
            func field(_ j: Int) -> ArraySlice<UInt8> { e[cuts[j]] }
            guard let id = integer(field(0)), let at = integer(field(1)), let lamport = integer(field(3)) else {
                throw CorruptHotData("malformed change-log line \"\(String(decoding: e.prefix(80), as: UTF8.self))\"")
            }
            cols[0].append(id)
            cols[1].append(at)
            cols[2].append(field(2))
            cols[3].append(lamport)
            cols[4].append(field(4))
            for j in 5...6 {
                let text = field(j)
                if statuses.contains(where: { $0.elementsEqual(text) }) { cols[j].append(text) } else { cols[j].appendNull() }
            }
            for j in 7...8 {
                if let n = integer(field(j)) { cols[j].append(n) } else { cols[j].appendNull() }
            }
        }
        return cols.map { $0.vector() }
    }

    /// A decimal integer (optional minus sign), nil if the bytes are anything else.
    public static func integer(_ b: ArraySlice<UInt8>) -> Int64? { DecimalInteger.parse(b, allowPlus: false) }
}
