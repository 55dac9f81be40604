import Testing
import StrataCore

@Suite struct SHA1Tests {
    @Test(arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        (String(repeating: "a", count: 1000), "291e9a6c66994949b57ba5e650361e98fc36b1ba"),
    ])
    func knownDigests(_ input: String, _ expected: String) {
        #expect(SHA1.hex(SHA1.digest(Array(input.utf8))) == expected)
    }

    /// The SHA instructions (where this CPU has them) and the portable rounds give the same
    /// digest for every length from 0 to 300 bytes (one to six blocks, every tail).
    @Test(.enabled(if: SHA1.hardware, "this CPU has no SHA instructions: the portable path alone runs, knownDigests covers it"))
    func theHardwareAndPortablePathsAgree() throws {
        var message = [UInt8]()
        var state: UInt32 = 12345
        for n in 0...300 {
            let h = message.withUnsafeBufferPointer { SHA1.digest($0, hardware: true) }
            let p = message.withUnsafeBufferPointer { SHA1.digest($0, hardware: false) }
            #expect(h == p, "length \(n)")
            state = state &* 1_103_515_245 &+ 12345
            message.append(UInt8(truncatingIfNeeded: state >> 16))
        }
    }

    @Test func everyLengthAroundTheBlockBoundaryDiffers() {
        var seen = Set<String>()
        for n in 50...130 { seen.insert(SHA1.hex(SHA1.digest([UInt8](repeating: 0x61, count: n)))) }
        #expect(seen.count == 81)
    }
}
