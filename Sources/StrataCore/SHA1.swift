import CSHA1

/// SHA-1 (FIPS 180-4), for comparing a value with the one Redis holds through Lua's
/// `redis.sha1hex` (not for security: a digest names a snapshot of a ticket).
public enum SHA1 {
    public static func digest(_ message: [UInt8]) -> [UInt8] {
        message.withUnsafeBufferPointer { digest($0) }
    }

    public static func digest(_ message: UnsafeBufferPointer<UInt8>) -> [UInt8] { digest(message, hardware: hardware) }

    /// Whether the CPU's SHA instructions compress the blocks (`CSHA1`, about 8x faster).
    public static let hardware = strata_sha1_hardware() == 1

    /// The digest with the SHA instructions or (`hardware: false`) the portable rounds below:
    /// the same bytes either way (the tests compare both).
    public static func digest(_ message: UnsafeBufferPointer<UInt8>, hardware: Bool) -> [UInt8] {
        precondition(!hardware || Self.hardware, "this CPU has no SHA instructions")
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            let w = w.baseAddress!
            func compress(_ p: UnsafeRawPointer, blocks: Int) {
                if hardware {
                    withUnsafeMutableBytes(of: &h) { state in
                        strata_sha1_blocks_hardware(state.baseAddress!.assumingMemoryBound(to: UInt32.self), p.assumingMemoryBound(to: UInt8.self), blocks)
                    }
                } else {
                    for k in 0..<blocks { block(&h, p + 64 * k, w) }
                }
            }
            let full = message.count / 64
            if let base = message.baseAddress, full > 0 { compress(UnsafeRawPointer(base), blocks: full) }
            // The tail, the 0x80 marker, zeros, and the length in bits: one or two blocks.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { tail in
                let rest = message.count - full * 64
                for i in 0..<rest { tail[i] = message[full * 64 + i] }
                tail[rest] = 0x80
                let total = rest + 1 + 8 <= 64 ? 64 : 128
                for i in (rest + 1)..<(total - 8) { tail[i] = 0 }
                let bits = UInt64(message.count) &* 8
                for i in 0..<8 { tail[total - 8 + i] = UInt8(truncatingIfNeeded: bits >> (56 - 8 * UInt64(i))) }
                compress(UnsafeRawPointer(tail.baseAddress!), blocks: total / 64)
            }
        }
        return [UInt8](unsafeUninitializedCapacity: 20) { out, initialized in
            let raw = UnsafeMutableRawPointer(out.baseAddress!)
            raw.storeBytes(of: h.0.bigEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: h.1.bigEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: h.2.bigEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: h.3.bigEndian, toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: h.4.bigEndian, toByteOffset: 16, as: UInt32.self)
            initialized = 20
        }
    }

    /// One 64-byte block into the state `h`; `w` is room for the 80-word schedule.
    @inline(__always)
    static func block(_ h: inout (UInt32, UInt32, UInt32, UInt32, UInt32), _ p: UnsafeRawPointer, _ w: UnsafeMutablePointer<UInt32>) {
        for i in 0..<16 { w[i] = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        for i in 16..<80 { w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
        var (a, b, c, d, e) = h
        // Four loops of 20 rounds, one function each (not one loop choosing per round).
        for i in 0..<20 {
            let t = rotl(a, 5) &+ (d ^ (b & (c ^ d))) &+ e &+ 0x5A82_7999 &+ w[i]
            e = d; d = c; c = rotl(b, 30); b = a; a = t
        }
        for i in 20..<40 {
            let t = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0x6ED9_EBA1 &+ w[i]
            e = d; d = c; c = rotl(b, 30); b = a; a = t
        }
        for i in 40..<60 {
            let t = rotl(a, 5) &+ ((b & c) | (d & (b | c))) &+ e &+ 0x8F1B_BCDC &+ w[i]
            e = d; d = c; c = rotl(b, 30); b = a; a = t
        }
        for i in 60..<80 {
            let t = rotl(a, 5) &+ (b ^ c ^ d) &+ e &+ 0xCA62_C1D6 &+ w[i]
            e = d; d = c; c = rotl(b, 30); b = a; a = t
        }
        h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
    }

    /// Lower-case hex, as `redis.sha1hex` returns it.
    public static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for b in digest { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always) static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { x &<< n | x &>> (32 &- n) }
}
