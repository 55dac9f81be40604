import Testing
import StrataCore

@Suite struct UTF8TextTests {
    /// Valid UTF-8 (ASCII or not) comes back as the same bytes; anything invalid is nil,
    /// exactly as the standard library's validating initializer decides.
    @Test func agreesWithTheStandardLibrary() {
        let cases: [[UInt8]] = [
            [], Array("svc-1".utf8), Array("a writer name longer than fifteen bytes".utf8),
            Array("café ☕ 𝄞".utf8), Array("日本語のチケット".utf8),
            [0xC3], [0xC3, 0x28], [0xE2, 0x82], [0xF0, 0x9D, 0x84], [0xFF], [0x80],
            [0xC0, 0xAF],  // overlong "/"
            [0xED, 0xA0, 0x80],  // a UTF-16 surrogate
            [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
            Array("ok".utf8) + [0xFE] + Array("ok".utf8),
        ]
        for bytes in cases {
            let expected = String(validating: bytes, as: UTF8.self)
            let got = UTF8Text.string(bytes)
            #expect(got == expected, "\(bytes)")
            if let got { #expect(Array(got.utf8) == bytes) }
        }
    }

    /// Every two-byte sequence: the fast check never accepts what validation refuses.
    @Test func everyTwoByteSequence() {
        for a in 0...255 {
            for b in 0...255 {
                let bytes: [UInt8] = [UInt8(a), UInt8(b)]
                #expect((UTF8Text.string(bytes) == nil) == (String(validating: bytes, as: UTF8.self) == nil))
            }
        }
    }
}
