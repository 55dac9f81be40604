/// The distinct values seen by one group of a DISTINCT aggregate over an integer-held
/// argument (BIGINT, INTEGER, TIMESTAMP, DATE). It takes one of two forms, by how spread
/// out the values are:
/// - dense: a bitmap over `[base, base + 64 × words.count)`. A row sets one bit; there is
///   no hashing. Used while the bitmap costs at most `bitsPerValue` bits per value held
///   (or `minimumBits` in all), which is less than a hash table's 128–256 bits per value.
/// - sparse: an open-addressing table with linear probing, a load of at most 1/2 and
///   Fibonacci hashing. `Int64.min` marks an empty slot; the value itself is a flag.
/// A dense set turns sparse when a value would spread the bitmap too thin; a sparse set
/// turns dense when, as it grows, its values become close enough.
///
/// Ticket ids, customer ids and agent ids are small and close together, so a count
/// of distinct customers per week is a bitmap of 2M bits per week instead of a hash table
/// of 500K entries per week.
struct DistinctIntegers {
    static let bitsPerValue: UInt64 = 64
    static let minimumBits: UInt64 = 1024
    static let empty = Int64.min

    private(set) var count = 0
    private(set) var isDense = true
    /// Dense: the value of bit 0, a multiple of 64.
    private var base: Int64 = 0
    private var words: [UInt64] = []
    /// Sparse: the table (a power of two of slots), whether `Int64.min` is held, and the
    /// smallest and largest values held (to see when the set may turn dense).
    private var slots: [Int64] = []
    private var holdsEmptyMarker = false
    private var low = Int64.max, high = Int64.min

    init() {}

    /// Adds `v`; true when it was not held before.
    @inline(__always)
    mutating func insert(_ v: Int64) -> Bool {
        if isDense {
            // Offsets wrap: a value below `base` lands far past the bitmap's end.
            let offset = UInt64(bitPattern: v &- base)
            if offset < UInt64(words.count) &<< 6 {
                let w = Int(truncatingIfNeeded: offset &>> 6), bit = UInt64(1) &<< (offset & 63)
                return words.withUnsafeMutableBufferPointer { p in
                    let old = p[w]
                    if old & bit != 0 { return false }
                    p[w] = old | bit
                    count += 1
                    return true
                }
            }
        }
        return insertSlowly(v)
    }

    /// Adds every value; how many were not held before.
    mutating func insert(contentsOf values: [Int64]) -> Int {
        var added = 0
        for v in values where insert(v) { added += 1 }
        return added
    }

    /// Every value held, in no particular order.
    func forEach(_ body: (Int64) throws -> Void) rethrows {
        if isDense {
            for (w, word) in words.enumerated() where word != 0 {
                var bits = word
                while bits != 0 {
                    let b = bits.trailingZeroBitCount
                    try body(base &+ Int64(w &* 64 &+ b))
                    bits &= bits &- 1
                }
            }
        } else {
            if holdsEmptyMarker { try body(Self.empty) }
            for v in slots where v != Self.empty { try body(v) }
        }
    }

    /// Adds every value of `other`. Two dense sets merge a word at a time.
    mutating func formUnion(_ other: DistinctIntegers) {
        guard other.count > 0 else { return }
        if isDense && other.isDense {
            // Cover the other's range first (its smallest and largest values are members).
            let first = other.words.firstIndex { $0 != 0 }!, last = other.words.lastIndex { $0 != 0 }!
            _ = insert(other.base &+ Int64(first &* 64 &+ other.words[first].trailingZeroBitCount))
            _ = insert(other.base &+ Int64(last &* 64 &+ 63 &- other.words[last].leadingZeroBitCount))
            if isDense {
                let shift = Int((Int128(other.base) - Int128(base)) / 64)
                var held = 0
                for w in first...last { words[shift + w] |= other.words[w] }
                for word in words { held &+= word.nonzeroBitCount }
                count = held
                return
            }
        }
        other.forEach { _ = insert($0) }
    }

    // MARK: the slow paths

    private static func allowedBits(_ values: Int) -> UInt64 {
        max(minimumBits, UInt64(values) &* bitsPerValue)
    }

    private mutating func insertSlowly(_ v: Int64) -> Bool {
        if isDense {
            if words.isEmpty {
                base = v & ~63
                words = [0]
                return insert(v)
            }
            // The bitmap must grow to reach v: to twice its size at least, toward v,
            // unless that is too thin a spread for the values held. Int128 keeps the
            // arithmetic exact at the ends of Int64.
            let oldLow = Int128(base), oldEnd = oldLow + Int128(words.count) * 64
            let aligned = Int128(v & ~63)
            let low = min(oldLow, aligned), end = max(oldEnd, aligned + 64)
            let needed = end - low
            let allowed = Int128(Self.allowedBits(count + 1))
            if needed <= allowed {
                let want = min(max(needed, (oldEnd - oldLow) * 2), allowed)
                // The extra room goes on v's side, within Int64.
                var newLow = v < base ? low - (want - needed) : low
                newLow = max(newLow, Int128(Int64.min))
                newLow = min(newLow, Int128(Int64.max) + 1 - want)
                var grown = [UInt64](repeating: 0, count: Int(want / 64))
                let shift = Int((oldLow - newLow) / 64)
                for (i, word) in words.enumerated() { grown[shift + i] = word }
                words = grown
                base = Int64(newLow)
                return insert(v)
            }
            becomeSparse()
        }
        return insertSparse(v)
    }

    private mutating func becomeSparse() {
        let old = self
        isDense = false
        words = []
        count = 0
        slots = [Int64](repeating: Self.empty, count: Self.capacity(for: old.count + 1))
        old.forEach { _ = insertSparse($0) }
    }

    private static func capacity(for values: Int) -> Int {
        var c = 16
        while c < values * 2 { c *= 2 }
        return c
    }

    private mutating func insertSparse(_ v: Int64) -> Bool {
        if v == Self.empty {
            if holdsEmptyMarker { return false }
            holdsEmptyMarker = true
        } else {
            let mask = slots.count - 1, shift = UInt64(64 - slots.count.trailingZeroBitCount)
            let added = slots.withUnsafeMutableBufferPointer { p -> Bool in
                var i = fibonacciSlot(UInt64(bitPattern: v), shift: shift)
                while true {
                    let s = p[i]
                    if s == v { return false }
                    if s == Self.empty { p[i] = v; return true }
                    i = (i + 1) & mask
                }
            }
            if !added { return false }
        }
        count += 1
        low = min(low, v)
        high = max(high, v)
        if count * 2 > slots.count { grow() }
        return true
    }

    /// Doubles the table, or turns dense when the values have become close enough.
    private mutating func grow() {
        if Int128(high) - Int128(low) + 64 <= Int128(Self.allowedBits(count)) {
            let old = self
            self = DistinctIntegers()
            base = old.low & ~63
            words = [UInt64](repeating: 0, count: Int((Int128(old.high) - Int128(base)) / 64 + 1))
            old.forEach { _ = insert($0) }
            return
        }
        let old = slots
        slots = [Int64](repeating: Self.empty, count: old.count * 2)
        let mask = slots.count - 1, shift = UInt64(64 - slots.count.trailingZeroBitCount)
        slots.withUnsafeMutableBufferPointer { p in
            for v in old where v != Self.empty {
                var i = fibonacciSlot(UInt64(bitPattern: v), shift: shift)
                while p[i] != Self.empty { i = (i + 1) & mask }
                p[i] = v
            }
        }
    }
}

/// When DISTINCT values waiting per group go into their sets: a group's once it has
/// `flush` waiting, every group's once an aggregate has `pendingLimit` waiting in all.
struct DistinctBatching {
    var flush = 1 << 16
    var pendingLimit = 1 << 22
}
