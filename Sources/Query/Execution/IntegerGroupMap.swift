/// Group numbers by one integer key (agent ids, days, timestamps): open addressing with
/// linear probing, Fibonacci hashing and a load of at most 1/2. A Swift `Dictionary`
/// hashes every lookup with SipHash; this multiplies once.
struct IntegerGroupMap {
    private var keys: [Int64]
    /// The group of each slot, or -1 where the slot is empty.
    private var groups: [Int32]
    private(set) var count = 0
    private var shift: UInt64

    init() {
        keys = [Int64](repeating: 0, count: 16)
        groups = [Int32](repeating: -1, count: 16)
        shift = 64 - 4
    }

    @inline(__always)
    private func slot(_ key: Int64) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) &>> shift)
    }

    /// The group of `key`, or nil.
    @inline(__always)
    func group(of key: Int64) -> Int? {
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
    mutating func insert(_ key: Int64, group: Int) {
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
        keys = [Int64](repeating: 0, count: oldKeys.count * 2)
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
