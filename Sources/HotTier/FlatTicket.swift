import StrataCore

/// A ticket's stored array (see `MergeScript`) read in place, without building a tree: the
/// one decoder of the ticket record, behind queries (`TicketRows`), the compactor, merge
/// states and `HotTicket` (GET). Values that are strings stay byte ranges into the blob.
/// Every item is checked (types, counts, the array's length) before anything is used.
public struct FlatTicket: Sendable {
    public enum Value: Equatable, Sendable {
        case null
        case integer(Int64)
        case double(Double)
        /// A string: its bytes are `blob[range]`.
        case string(Range<Int>)
    }

    /// One per column of `Tables.tickets`, as stored (id and version are not kept here).
    public var values: [Value]
    /// Bit i set: column i has been set by some event (its stamp is not 0).
    public var setColumns: UInt32
    /// Sum of the version vector.
    public var version: Int64
    /// The version vector: each writer's name (bytes of the blob), counter, and prefix (every
    /// counter 1...prefix of that writer has been seen).
    public var writers: [(name: Range<Int>, count: Int64, prefix: Int64)] = []
    /// With `full`: each column's stamp, and the dots seen above their writer's prefix.
    public var stamps: [Int64] = []
    public var dots: [Int64] = []
    /// Bytes of the array header, and where the 17 values end.
    public var headerLength: Int
    public var valuesEnd: Int

    /// `full`: keep the stamps and the pending dots too (the merge needs them; readers do not).
    public static func parse(_ b: [UInt8], full: Bool = false) throws -> FlatTicket {
        var values = [Value]()
        values.reserveCapacity(MergeScript.fieldCount)
        var t = try parse(b, full: full) { values.append($0) }
        t.values = values
        return t
    }

    /// The same, each value handed to `value` in column order instead of kept (`values` is
    /// left empty): a reader that keeps values its own way makes no array of these.
    static func parse(_ b: [UInt8], full: Bool, value: (Value) throws -> Void) throws -> FlatTicket {
        let n = MergeScript.fieldCount
        var pos = 0
        let count: Int
        switch b.first {
        case let t? where t & 0xF0 == 0x90: count = Int(t & 0x0F); pos = 1
        case 0xDC? where b.count >= 3: count = Int(b[1]) << 8 | Int(b[2]); pos = 3
        default: throw MsgPackError(message: "a ticket is a msgpack array of at least \(2 * n + 1) items")
        }
        guard count >= 2 * n + 1, count <= b.count else { throw MsgPackError(message: "a ticket array of \(count) items in \(b.count) bytes") }
        var t = FlatTicket(values: [], setColumns: 0, version: 0, headerLength: pos, valuesEnd: 0)
        t.writers.reserveCapacity(4)
        if full { t.stamps.reserveCapacity(n) }
        for _ in 0..<n { try value(try scalar(b, &pos)) }
        t.valuesEnd = pos
        for i in 0..<n {
            guard case .integer(let stamp) = try scalar(b, &pos) else { throw MsgPackError(message: "stamp \(i + 1) is not an integer") }
            if stamp != 0 { t.setColumns |= 1 << UInt32(i) }
            if full { t.stamps.append(stamp) }
        }
        guard case .integer(let writers) = try scalar(b, &pos), writers >= 0, writers <= 63, 2 * n + 1 + 3 * Int(writers) <= count else {
            throw MsgPackError(message: "bad writer count")
        }
        for _ in 0..<Int(writers) {
            guard case .string(let name) = try scalar(b, &pos), case .integer(let c) = try scalar(b, &pos), case .integer(let prefix) = try scalar(b, &pos),
                  c >= 0, prefix >= 0 else {
                throw MsgPackError(message: "bad vector entry")
            }
            t.writers.append((name, c, prefix))
            t.version &+= c
        }
        for _ in (2 * n + 1 + 3 * Int(writers))..<count {
            guard case .integer(let dot) = try scalar(b, &pos), dot >= 0 else { throw MsgPackError(message: "a seen dot is not an integer") }
            if full { t.dots.append(dot) }
        }
        guard pos == b.count else { throw MsgPackError(message: "\(b.count - pos) trailing bytes") }
        return t
    }

    /// Every non-nullable column has a value (a ticket whose create has not arrived lacks some).
    public var isComplete: Bool {
        for (i, def) in Tables.tickets.columns.enumerated() where !def.nullable && def.name != "id" && def.name != "version" {
            guard setColumns & (1 << UInt32(i)) != 0, values[i] != .null else { return false }
        }
        return true
    }

    /// What a reader keeps of a parse to read the ticket's values again later
    /// (`forEachValue`), without the parse's arrays: a compaction holds the tickets of two
    /// migrations at once, and the arrays were about 600 B a ticket.
    public struct Outline: Sendable {
        public let setColumns: UInt32
        public let version: Int64
        let headerLength: Int32
        let valuesEnd: Int32
    }

    public var outline: Outline {
        precondition(valuesEnd <= Int(Int32.max), "a ticket's values end past 2 GiB")
        return Outline(setColumns: setColumns, version: version, headerLength: Int32(headerLength), valuesEnd: Int32(valuesEnd))
    }

    /// The values of `blob`, the stored array `outline` was taken from, in column order.
    /// Throws if the bytes are not where the outline says (another blob).
    public static func forEachValue(_ blob: [UInt8], _ outline: Outline, _ body: (Int, Value) throws -> Void) throws {
        var pos = Int(outline.headerLength)
        for i in 0..<MergeScript.fieldCount { try body(i, try scalar(blob, &pos)) }
        guard pos == Int(outline.valuesEnd) else { throw MsgPackError(message: "the values end at byte \(pos), not \(outline.valuesEnd) as parsed") }
    }

    /// The merge state the cold tier keeps: the array with its values blanked (`MergeState`).
    public func mergeState(_ blob: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(headerLength + MergeScript.fieldCount + blob.count - valuesEnd)
        Self.appendMergeState(blob, outline, to: &out)
        return out
    }

    /// The same, appended to `out` (a column's bytes) without an array of its own, from the
    /// outline of `blob`'s parse.
    public static func appendMergeState(_ blob: [UInt8], _ outline: Outline, to out: inout [UInt8]) {
        out += blob[0..<Int(outline.headerLength)]
        out += repeatElement(0xC2, count: MergeScript.fieldCount)
        out += blob[Int(outline.valuesEnd)...]
    }

    static func scalar(_ b: [UInt8], _ pos: inout Int) throws -> Value {
        guard pos < b.count else { throw MsgPackError(message: "truncated") }
        let t = b[pos]
        pos += 1
        func uint(_ n: Int) throws -> UInt64 {
            guard pos + n <= b.count else { throw MsgPackError(message: "truncated") }
            var v: UInt64 = 0
            for i in 0..<n { v = v << 8 | UInt64(b[pos + i]) }
            pos += n
            return v
        }
        func str(_ n: Int) throws -> Value {
            guard n >= 0, pos + n <= b.count else { throw MsgPackError(message: "truncated string") }
            defer { pos += n }
            return .string(pos..<pos + n)
        }
        switch t {
        case 0x00...0x7F: return .integer(Int64(t))
        case 0xA0...0xBF: return try str(Int(t & 0x1F))
        case 0xC0, 0xC2: return .null
        case 0xC4, 0xD9: return try str(Int(try uint(1)))
        case 0xC5, 0xDA: return try str(Int(try uint(2)))
        case 0xC6, 0xDB: return try str(Int(try uint(4)))
        case 0xCA: return .double(Double(Float(bitPattern: UInt32(try uint(4)))))
        case 0xCB: return .double(Double(bitPattern: try uint(8)))
        case 0xCC: return .integer(Int64(try uint(1)))
        case 0xCD: return .integer(Int64(try uint(2)))
        case 0xCE: return .integer(Int64(try uint(4)))
        case 0xCF:
            let v = try uint(8)
            guard v <= UInt64(Int64.max) else { throw MsgPackError(message: "uint64 out of range") }
            return .integer(Int64(v))
        case 0xD0: return .integer(Int64(Int8(truncatingIfNeeded: try uint(1))))
        case 0xD1: return .integer(Int64(Int16(truncatingIfNeeded: try uint(2))))
        case 0xD2: return .integer(Int64(Int32(truncatingIfNeeded: try uint(4))))
        case 0xD3: return .integer(Int64(bitPattern: try uint(8)))
        case 0xE0...0xFF: return .integer(Int64(Int8(bitPattern: t)))
        default: throw MsgPackError(message: "unexpected type byte 0x\(String(t, radix: 16)) in a ticket array")
        }
    }
}
