/// A validity bitmap: bit `i` set means row `i` holds a value, clear means null.
/// Bits are numbered from the least significant bit of byte 0 (as in Arrow).
public struct Bitmap: Sendable, Equatable {
    public private(set) var bytes: [UInt8]
    public private(set) var count: Int

    public init() {
        bytes = []
        count = 0
    }

    /// `count` bits, all set or all clear.
    public init(count: Int, allSet: Bool) {
        self.count = count
        bytes = [UInt8](repeating: allSet ? 0xFF : 0, count: (count + 7) / 8)
        clearTail()
    }

    /// Adopts `bytes` as the first `count` bits; bits past `count` must be clear.
    public init(bytes: [UInt8], count: Int) {
        precondition(bytes.count == (count + 7) / 8)
        self.bytes = bytes
        self.count = count
    }

    /// One Bool per bit, true where the bit is clear (a validity bitmap's nulls), built a byte at a time.
    public func clearFlags() -> [Bool] {
        [Bool](unsafeUninitializedCapacity: count) { out, initialized in
            bytes.withUnsafeBufferPointer { b in
                var i = 0
                for byte in b {
                    var bits = byte
                    let end = Swift.min(i + 8, count)
                    while i < end { out[i] = bits & 1 == 0; bits >>= 1; i += 1 }
                }
            }
            initialized = count
        }
    }

    @inline(__always)
    public subscript(i: Int) -> Bool {
        get { bytes[i >> 3] & (1 << UInt8(i & 7)) != 0 }
        set {
            if newValue { bytes[i >> 3] |= 1 << UInt8(i & 7) } else { bytes[i >> 3] &= ~(1 << UInt8(i & 7)) }
        }
    }

    public mutating func append(_ bit: Bool) {
        if count & 7 == 0 { bytes.append(0) }
        if bit { bytes[count >> 3] |= 1 << UInt8(count & 7) }
        count += 1
    }

    public mutating func reserveCapacity(_ n: Int) {
        bytes.reserveCapacity((n + 7) / 8)
    }

    /// Number of set bits.
    public var setCount: Int {
        bytes.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    /// The bits `start ..< start + length`, as a new bitmap.
    public func slice(_ start: Int, _ length: Int) -> Bitmap {
        if start & 7 == 0 {
            var out = Bitmap(bytes: Array(bytes[(start >> 3)..<((start + length + 7) >> 3)]), count: length)
            out.clearTail()
            return out
        }
        var out = Bitmap()
        out.reserveCapacity(length)
        for i in start..<start + length { out.append(self[i]) }
        return out
    }

    /// Clears the bits past `count` in the last byte.
    mutating func clearTail() {
        if count & 7 != 0 { bytes[bytes.count - 1] &= UInt8((1 << (count & 7)) - 1) }
    }
}
