import StrataCore

/// An open-addressing hash table from byte strings to dense codes 0, 1, 2, … in
/// insertion order. Much cheaper than `[ArraySlice<UInt8>: UInt32]` on the write path's
/// short strings: no per-lookup allocation, a simple multiplicative hash.
struct ByteStringTable {
    private(set) var strings = StringColumn()
    private var slots: [Int32]   // code + 1, 0 = empty
    private var hashes: [UInt64]
    private var mask: Int

    init(capacity: Int = 64) {
        var n = 16
        while n < capacity * 2 { n <<= 1 }
        slots = [Int32](repeating: 0, count: n)
        hashes = []
        mask = n - 1
    }

    var count: Int { strings.count }

    @inline(__always)
    static func hash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(b.count)
        var i = 0
        while i + 8 <= b.count {
            h = (h ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 29
            i += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.count {
            tail |= UInt64(b[i]) << shift
            shift += 8
            i += 1
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }

    /// The code of `b`, inserting it if new (when `insert` is true).
    @inline(__always)
    mutating func code(of b: UnsafeRawBufferPointer, insert: Bool = true) -> UInt32? {
        let h = Self.hash(b)
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let s = slots[i]
            if s == 0 {
                guard insert else { return nil }
                let code = UInt32(strings.count)
                strings.append(UnsafeRawBufferPointer(b))
                hashes.append(h)
                slots[i] = Int32(code) + 1
                if strings.count * 2 > mask { grow() }
                return code
            }
            let c = Int(s - 1)
            if hashes[c] == h && equal(c, b) { return UInt32(c) }
            i = (i + 1) & mask
        }
    }

    @inline(__always)
    private func equal(_ c: Int, _ b: UnsafeRawBufferPointer) -> Bool {
        let start = Int(strings.offsets[c]), end = Int(strings.offsets[c + 1])
        guard end - start == b.count else { return false }
        return strings.bytes.withUnsafeBytes { all in
            b.count == 0 || memcmp(all.baseAddress! + start, b.baseAddress!, b.count) == 0
        }
    }

    private mutating func grow() {
        let n = (mask + 1) * 2
        slots = [Int32](repeating: 0, count: n)
        mask = n - 1
        for (c, h) in hashes.enumerated() {
            var i = Int(truncatingIfNeeded: h) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = Int32(c) + 1
        }
    }
}

extension StringColumn {
    /// Calls `body` with the bytes of value `i` (no copy).
    @inline(__always)
    func withBytes<R>(at i: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let start = Int(offsets[i]), end = Int(offsets[i + 1])
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
