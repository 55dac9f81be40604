#if canImport(Glibc)
import Glibc
#endif
import StrataCore

/// The event of docs/api.md read straight from its bytes, the way nearly every event
/// arrives: no JSON tree, no String per key, column names matched as bytes. It accepts
/// only what `EventDecoder.decodeByTree` accepts, and makes the same event; on anything
/// else (an escape in a string, a fraction, a duplicate or unknown key, a broken rule) it
/// answers nil and the tree decoder reads the line again and names what is wrong. So the
/// rules and the messages stay in one place (`EventDecoder`), and `EventFuzz` checks that
/// the two readings agree.
enum EventScanner {
    static let columnNames: [[UInt8]] = Tables.tickets.columns.map { Array($0.name.utf8) }
    static let writable: UInt64 = Tables.tickets.columns.indices.reduce(0) { EventDecoder.isWritable($1) ? $0 | 1 << UInt64($1) : $0 }
    static let updatedAt = Tables.tickets.index(of: "updated_at")!
    static let isTimestamp: [Bool] = Tables.tickets.columns.map { $0.type == .timestamp }
    static let isNullable: [Bool] = Tables.tickets.columns.map(\.nullable)

    static func scan(_ b: UnsafeBufferPointer<UInt8>) -> TicketEvent? {
        precondition(Tables.tickets.columns.count <= 64, "a column set is one UInt64")
        var c = Cursor(b: b)
        var op: TicketEvent.Op?, id: Int64?, writer: String?
        var vv: [(writer: String, count: Int64)]?, fields: [(column: Int, value: TicketEvent.Value)]?
        c.space()
        guard c.take(0x7B) else { return nil }  // {
        c.space()
        if c.take(0x7D) { return nil }  // an empty object: the tree names what is missing
        repeat {
            c.space()
            guard let key = c.plainString() else { return nil }
            c.space()
            guard c.take(0x3A) else { return nil }  // :
            c.space()
            switch key.count {
            case 2 where c.equals(key, "op") && op == nil:
                guard let v = c.plainString() else { return nil }
                if c.equals(v, "create") { op = .create } else if c.equals(v, "patch") { op = .patch } else { return nil }
            case 2 where c.equals(key, "id") && id == nil:
                guard let n = c.integer(), n > 0 else { return nil }
                id = n
            case 6 where c.equals(key, "writer") && writer == nil:
                guard let r = c.plainString(), let w = c.text(r), EventDecoder.isWriterName(w) else { return nil }
                writer = w
            case 2 where c.equals(key, "vv") && vv == nil:
                guard let v = c.vector() else { return nil }
                vv = v
            case 6 where c.equals(key, "fields") && fields == nil:
                guard let f = c.fields() else { return nil }
                fields = f
            default:
                return nil  // unknown or repeated: the tree says which
            }
            c.space()
        } while c.take(0x2C)  // ,
        guard c.take(0x7D) else { return nil }  // }
        c.space()
        guard c.pos == b.count, let op, let id, let writer, let vv, let fields else { return nil }
        guard vv.contains(where: { $0.writer == writer }) else { return nil }
        guard let at = fields.first(where: { $0.column == updatedAt }), case .integer(let ms) = at.value else { return nil }
        if op == .create && !EventDecoder.missingRequired(fields.reduce(0) { $0 | 1 << UInt64($1.column) }).isEmpty { return nil }
        return TicketEvent(op: op, id: id, writer: writer, vv: vv, fields: fields, at: ms)
    }

    /// A position in the bytes of one event.
    struct Cursor {
        let b: UnsafeBufferPointer<UInt8>
        var pos = 0

        mutating func space() {
            while pos < b.count, b[pos] == 0x20 || b[pos] == 0x09 || b[pos] == 0x0D || b[pos] == 0x0A { pos += 1 }
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard pos < b.count, b[pos] == byte else { return false }
            pos += 1
            return true
        }

        func equals(_ r: Range<Int>, _ word: StaticString) -> Bool {
            r.count == word.utf8CodeUnitCount && memcmp(b.baseAddress! + r.lowerBound, word.utf8Start, r.count) == 0
        }

        func equals(_ r: Range<Int>, _ bytes: [UInt8]) -> Bool {
            r.count == bytes.count && bytes.withUnsafeBufferPointer { memcmp(b.baseAddress! + r.lowerBound, $0.baseAddress!, r.count) == 0 }
        }

        /// A string without escapes or control characters: the range of its bytes.
        mutating func plainString() -> Range<Int>? {
            guard take(0x22) else { return nil }
            let start = pos
            while pos < b.count {
                let byte = b[pos]
                if byte == 0x22 {
                    pos += 1
                    return start..<(pos - 1)
                }
                if byte == 0x5C || byte < 0x20 { return nil }
                pos += 1
            }
            return nil
        }

        /// The bytes as a String, if they are UTF-8.
        func text(_ r: Range<Int>) -> String? {
            UTF8Text.string(UnsafeBufferPointer(rebasing: b[r]))
        }

        /// A JSON integer within Int64 (no fraction, no exponent, no leading zero).
        mutating func integer() -> Int64? {
            let negative = take(0x2D)
            let start = pos
            var v: Int64 = 0
            while pos < b.count, b[pos] >= 0x30, b[pos] <= 0x39 {
                let d = Int64(b[pos] - 0x30)
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = negative ? m.subtractingReportingOverflow(d) : m.addingReportingOverflow(d)
                if o1 || o2 { return nil }
                v = s
                pos += 1
            }
            let digits = pos - start
            guard digits > 0, !(digits > 1 && b[start] == 0x30) else { return nil }
            if pos < b.count, b[pos] == 0x2E || b[pos] == 0x65 || b[pos] == 0x45 { return nil }  // . e E
            return v
        }

        /// `"vv": {"writer": count, ...}`.
        mutating func vector() -> [(writer: String, count: Int64)]? {
            guard take(0x7B) else { return nil }
            var out = [(writer: String, count: Int64)]()
            out.reserveCapacity(4)  // one allocation for the usual vector (a growth was another)
            space()
            if take(0x7D) { return nil }  // empty: the tree says so
            repeat {
                space()
                guard let r = plainString(), let w = text(r), EventDecoder.isWriterName(w) else { return nil }
                space()
                guard take(0x3A) else { return nil }
                space()
                guard let n = integer(), EventDecoder.vectorCounts.contains(n) else { return nil }
                guard out.count < EventDecoder.maxVectorEntries, !out.contains(where: { $0.writer == w }) else { return nil }
                out.append((w, n))
                space()
            } while take(0x2C)
            return take(0x7D) ? out : nil
        }

        /// `"fields": {"column": value, ...}`, each value checked by `EventDecoder`'s rules.
        mutating func fields() -> [(column: Int, value: TicketEvent.Value)]? {
            guard take(0x7B) else { return nil }
            var out = [(column: Int, value: TicketEvent.Value)]()
            out.reserveCapacity(12)
            var seen: UInt64 = 0
            space()
            if take(0x7D) { return nil }  // no updated_at: the tree says so
            repeat {
                space()
                guard let key = plainString() else { return nil }
                guard let c = EventScanner.columnNames.firstIndex(where: { equals(key, $0) }),
                      EventScanner.writable & (1 << UInt64(c)) != 0, seen & (1 << UInt64(c)) == 0 else { return nil }
                seen |= 1 << UInt64(c)
                space()
                guard take(0x3A) else { return nil }
                space()
                guard pos < b.count else { return nil }
                let value: TicketEvent.Value
                switch b[pos] {
                case 0x22:  // a string
                    guard let r = plainString() else { return nil }
                    if EventScanner.isTimestamp[c] {
                        guard let ms = Timestamp.parse(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: b[r]))) else { return nil }
                        value = .integer(ms)
                    } else {
                        guard let s = text(r), EventDecoder.stringProblem(s, column: c) == nil else { return nil }
                        value = .string(s)
                    }
                case 0x6E:  // null
                    guard pos + 4 <= b.count, memcmp(b.baseAddress! + pos, "null", 4) == 0, EventScanner.isNullable[c] else { return nil }
                    pos += 4
                    value = .null
                default:
                    guard let n = integer(), EventDecoder.integerProblem(n, column: c) == nil else { return nil }
                    value = .integer(n)
                }
                out.append((c, value))
                space()
            } while take(0x2C)
            return take(0x7D) ? out : nil
        }
    }
}
