/// A group key that hashes cheaply: a few multiplications, no SipHash. Group keys come
/// from the query's own data, and a hash table of them is bounded by the group limit.
protocol GroupKey: Equatable {
    static var zero: Self { get }
    var mixed: UInt64 { get }
}

extension Int64: GroupKey {
    static var zero: Int64 { 0 }
    @inline(__always) var mixed: UInt64 { UInt64(bitPattern: self) }
}

/// The slot of a table of 2^(64 - shift) slots for a key mixed to 64 bits: Fibonacci
/// hashing, one multiplication by 2^64 / φ and the top bits (GroupMap, DistinctIntegers).
@inline(__always)
func fibonacciSlot(_ mixed: UInt64, shift: UInt64) -> Int {
    Int(truncatingIfNeeded: (mixed &* 0x9E37_79B9_7F4A_7C15) &>> shift)
}

/// Group numbers by key (one integer: agent ids, days, timestamps; or up to four coded
/// keys): open addressing with linear probing, Fibonacci hashing and a load of at most
/// 1/2. A Swift `Dictionary` hashes every lookup with SipHash; this multiplies once.
struct GroupMap<Key: GroupKey> {
    private var keys: [Key]
    /// The group of each slot, or -1 where the slot is empty.
    private var groups: [Int32]
    private(set) var count = 0
    private var shift: UInt64

    init() {
        keys = [Key](repeating: .zero, count: 16)
        groups = [Int32](repeating: -1, count: 16)
        shift = 64 - 4
    }

    @inline(__always)
    private func slot(_ key: Key) -> Int { fibonacciSlot(key.mixed, shift: shift) }

    /// The group of `key`, or nil.
    @inline(__always)
    func group(of key: Key) -> Int? {
        let mask = keys.count - 1
        var i = slot(key)
        while true {
            let g = groups[i]
            if g < 0 { return nil }
            if keys[i] == key { return Int(g) }
            i = (i + 1) & mask
        }
    }

    /// Records the group of a key not yet present.
    mutating func insert(_ key: Key, group: Int) {
        precondition(group >= 0 && group <= Int(Int32.max))
        if (count + 1) * 2 > keys.count { grow() }
        let mask = keys.count - 1
        var i = slot(key)
        while groups[i] >= 0 {
            precondition(keys[i] != key, "key already has a group")
            i = (i + 1) & mask
        }
        keys[i] = key
        groups[i] = Int32(group)
        count += 1
    }

    private mutating func grow() {
        let oldKeys = keys, oldGroups = groups
        keys = [Key](repeating: .zero, count: oldKeys.count * 2)
        groups = [Int32](repeating: -1, count: oldKeys.count * 2)
        shift -= 1
        let mask = keys.count - 1
        for (j, g) in oldGroups.enumerated() where g >= 0 {
            var i = slot(oldKeys[j])
            while groups[i] >= 0 { i = (i + 1) & mask }
            keys[i] = oldKeys[j]
            groups[i] = g
        }
    }
}

/// A group key of up to four integers (text keys interned to integers), and which are null.
struct CodedKey: GroupKey, Hashable {
    static let maxKeys = 4
    static var zero: CodedKey { CodedKey() }
    var a: Int64 = 0, b: Int64 = 0, c: Int64 = 0, d: Int64 = 0
    var nulls: UInt8 = 0

    /// Each part multiplied by its own odd constant and rotated, so that (x, y) and
    /// (y, x) differ; the map multiplies the sum once more.
    @inline(__always) var mixed: UInt64 {
        var h = UInt64(bitPattern: a) &* 0xFF51_AFD7_ED55_8CCD
        h = (h << 23 | h >> 41) ^ (UInt64(bitPattern: b) &* 0xC4CE_B9FE_1A85_EC53)
        h = (h << 23 | h >> 41) ^ (UInt64(bitPattern: c) &* 0x9E37_79B9_7F4A_7C15)
        h = (h << 23 | h >> 41) ^ (UInt64(bitPattern: d) &* 0xD6E8_FEB8_6659_FD93)
        return h ^ UInt64(nulls)
    }

    subscript(i: Int) -> Int64 {
        get { i == 0 ? a : (i == 1 ? b : (i == 2 ? c : d)) }
        set {
            switch i {
            case 0: a = newValue
            case 1: b = newValue
            case 2: c = newValue
            default: d = newValue
            }
        }
    }
}
