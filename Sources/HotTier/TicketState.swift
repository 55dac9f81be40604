#if canImport(Glibc)
import Glibc
#endif
import StrataCore

/// A field's value as the merge stores it (what `MergeScript`'s `decode` makes of an
/// argument): null (msgpack `false`), an integer of magnitude below 2^53 (a Lua number), or
/// bytes (a string, or the digits of a larger integer) held in its `TicketState`'s arena.
/// A trivial type: copying one retains nothing. Its bytes are compared through the state
/// (`TicketState.same`), never by their place.
enum StoredValue: Sendable {
    case null
    case integer(Int64)
    /// The bytes: `arena[range]` of the state that holds the value.
    case bytes(Range<Int>)

    static let exactLimit: Int64 = 9_007_199_254_740_992  // 2^53: Lua numbers are doubles

    /// Lua's truth: everything but `false` (null).
    var isSet: Bool {
        if case .null = self { return false }
        return true
    }
}

/// One ticket's merge state: what `MergeScript` stores as one flat msgpack array (values,
/// stamps, writers with their counters and prefixes, the dots seen above the prefixes).
///
/// Strings (values and writer names) are ranges into `arena`: the stored bytes the state
/// was read from, then the bytes of every string set since, appended. So reading a stored
/// ticket copies no string and makes no array per value, and freeing it frees four arrays.
struct TicketState: Sendable {
    static let fieldCount = MergeScript.fieldCount
    typealias Writer = (name: Range<Int>, count: Int64, prefix: Int64)

    /// The stored ticket's bytes, then every string set since (append-only: a range, once
    /// made, stays valid).
    private(set) var arena: [UInt8]
    var values: [StoredValue]
    /// lamport * 64 + writer index; 0: never set.
    var stamps: [Int64]
    /// Each writer's name (in `arena`), its counter, and its prefix: every counter
    /// 1...prefix of that writer has been seen.
    var writers: [Writer] = []
    /// Dots (counter * 64 + writer index) seen above their writer's prefix.
    var pending = Set<Int64>()

    /// A ticket the hot tier has never seen.
    init() {
        arena = []
        values = Array(repeating: .null, count: Self.fieldCount)
        writers.reserveCapacity(4)  // one allocation for the usual vector (a growth was another)
        stamps = Array(repeating: 0, count: Self.fieldCount)
    }

    /// A stored ticket (or merge state), every item checked by `FlatTicket`.
    init(parsing blob: [UInt8]) throws {
        var read = [StoredValue]()
        read.reserveCapacity(Self.fieldCount)
        var doubles: [(index: Int, value: Double)] = []
        var flat = try FlatTicket.parse(blob, full: true) { v in
            switch v {
            case .null: read.append(.null)
            case .integer(let n): read.append(.integer(n))
            case .string(let r): read.append(.bytes(r))
            case .double(let d):
                if let n = Int64(exactly: d) { read.append(.integer(n)) } else { doubles.append((read.count, d)); read.append(.null) }
            }
        }
        arena = blob
        values = read
        stamps = flat.stamps
        for (i, d) in doubles { values[i] = append(String(d)) }  // rare: the script stores no fractions
        swap(&writers, &flat.writers)
        if !flat.dots.isEmpty { pending = Set(flat.dots) }
    }

    /// An event's value, its string bytes appended to the arena.
    mutating func store(_ v: TicketEvent.Value) -> StoredValue {
        switch v {
        case .null: return .null
        case .integer(let n):
            return n < StoredValue.exactLimit && n > -StoredValue.exactLimit ? .integer(n) : append(String(n))
        case .string(let s): return append(s)
        }
    }

    private mutating func append(_ s: String) -> StoredValue {
        let start = arena.count
        makeRoom(s.utf8.count)
        arena.append(contentsOf: s.utf8)
        return .bytes(start..<arena.count)
    }

    /// Room for `count` more bytes, with headroom: the arena starts as the stored bytes
    /// (shared with the read, so the first append copies it), and an event sets a few
    /// values; one copy with room for them instead of a copy and then a growth or two.
    private mutating func makeRoom(_ count: Int) {
        if arena.capacity < arena.count + count { arena.reserveCapacity(arena.count + count + 192) }
    }

    /// A value's bytes (nil for null and integers).
    func bytes(_ v: StoredValue) -> ArraySlice<UInt8>? {
        if case .bytes(let r) = v { return arena[r] }
        return nil
    }

    /// Whether two values are equal as the script's `==` sees them (a number never equals a string).
    func same(_ a: StoredValue, _ b: StoredValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.integer(let x), .integer(let y)): return x == y
        case (.bytes(let x), .bytes(let y)): return x.count == y.count && (x == y || arena[x].elementsEqual(arena[y]))
        default: return false
        }
    }

    /// Lua's `tostring`: numbers as "%.14g" prints them, null as "false".
    func luaText(_ v: StoredValue) -> ArraySlice<UInt8> {
        switch v {
        case .null: return ArraySlice("false".utf8)
        case .bytes(let r): return arena[r]
        case .integer(let n):
            if n > -100_000_000_000_000 && n < 100_000_000_000_000 { return DecimalInteger.digits(n)[...] }
            return ArraySlice(String(cString: percentG(Double(n))).utf8)
        }
    }

    /// `luaText(v)` appended to `out` (integers written in place, no array of their own).
    func appendLuaText(_ v: StoredValue, to out: inout [UInt8]) {
        switch v {
        case .bytes(let r): out.append(contentsOf: arena[r])
        case .integer(let n) where n > -100_000_000_000_000 && n < 100_000_000_000_000: DecimalInteger.append(n, to: &out)
        default: out.append(contentsOf: luaText(v))
        }
    }

    /// The script's `digits` appended to `out`: integers as all their digits (written in
    /// place, no array of their own), bytes as they are, null as nothing.
    func appendDigits(_ v: StoredValue, to out: inout [UInt8]) {
        switch v {
        case .null: return
        case .integer(let n): DecimalInteger.append(n, to: &out)
        case .bytes(let r): out.append(contentsOf: arena[r])
        }
    }

    /// Lua's `tonumber` of a stored value (integers, or digits kept as bytes).
    func number(_ v: StoredValue) -> Double? {
        switch v {
        case .null: return nil
        case .integer(let n): return Double(n)
        case .bytes(let r): return Double(String(decoding: arena[r], as: UTF8.self))
        }
    }

    /// Writer `j`'s name.
    func name(_ j: Int) -> ArraySlice<UInt8> { arena[writers[j].name] }

    /// Where `name` is among the writers, compared byte by byte without copying it.
    func index(of name: String) -> Int? {
        var name = name
        return name.withUTF8 { n in
            arena.withUnsafeBufferPointer { a in
                writers.firstIndex { w in
                    w.name.count == n.count && (n.isEmpty || memcmp(a.baseAddress! + w.name.lowerBound, n.baseAddress!, n.count) == 0)
                }
            }
        }
    }

    /// A new writer (counter and prefix 0); its index.
    mutating func addWriter(_ name: String) -> Int {
        let start = arena.count
        makeRoom(name.utf8.count)
        arena.append(contentsOf: name.utf8)
        writers.append((start..<arena.count, 0, 0))
        return writers.count - 1
    }

    /// Some required column has never been set (the ticket's create has not arrived).
    var isIncomplete: Bool { MergeScript.requiredPositions.contains { stamps[$0 - 1] == 0 } }

    /// The bytes `cmsgpack.pack` makes of the script's table: the array header, the values
    /// (false for null), the stamps, the writer count, the (writer, count, prefix) triples,
    /// the pending dots in ascending order.
    func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(arena.count + 64)
        let dots = pending.isEmpty ? [] : pending.sorted()
        MsgPackWriter.arrayHeader(2 * Self.fieldCount + 1 + 3 * writers.count + dots.count, &out)
        for v in values {
            switch v {
            case .null: out.append(0xC2)
            case .integer(let n): MsgPackWriter.int(n, &out)
            case .bytes(let r): MsgPackWriter.bytes(arena[r], &out)
            }
        }
        for s in stamps { MsgPackWriter.int(s, &out) }
        MsgPackWriter.int(Int64(writers.count), &out)
        for w in writers {
            MsgPackWriter.bytes(arena[w.name], &out)
            MsgPackWriter.int(w.count, &out)
            MsgPackWriter.int(w.prefix, &out)
        }
        for d in dots { MsgPackWriter.int(d, &out) }
        return out
    }
}

/// "%.14g" of a double, as Lua 5.1's tostring formats numbers.
private func percentG(_ d: Double) -> [CChar] {
    var buf = [CChar](repeating: 0, count: 32)
    _ = withVaList([d]) { vsnprintf(&buf, 32, "%.14g", $0) }
    return buf
}
