import Testing
import StrataCore
import StrataTesting
import SystemSupport

@Suite struct DecimalIntegerTests {
    @Test func theEdgesOfInt64AndWhatIsNotANumber() {
        let cases: [(String, Int64?)] = [
            ("0", 0), ("-0", 0), ("+7", 7), ("42", 42), ("-42", -42),
            ("9223372036854775807", .max), ("-9223372036854775808", .min),
            ("9223372036854775808", nil), ("-9223372036854775809", nil),
            ("00000000000000000000001", 1), ("", nil), ("-", nil), ("+", nil), ("1a", nil), (" 1", nil), ("1.0", nil),
        ]
        for (text, want) in cases {
            #expect(DecimalInteger.parse(Array(text.utf8)) == want, "\(text)")
        }
        #expect(DecimalInteger.parse(Array("+7".utf8), allowPlus: false) == nil)
        #expect(DecimalInteger.parse(Array("x-12|".utf8).dropFirst().dropLast(), allowPlus: false) == -12)
    }

    @Test func digitsAreStringsDigitsAndParseBack() {
        var rng = SplitMix64(seed: testSeed("digitsAreStringsDigitsAndParseBack"))
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, .max, .min, .max - 1, .min + 1, 1_000_000_000_000_000_000]
        for _ in 0..<2000 { values.append(Int64(bitPattern: rng.next()) >> Int64(rng.next() % 64)) }
        for n in values {
            #expect(DecimalInteger.digits(n) == Array(String(n).utf8), "\(n)")
            var out: [UInt8] = [0x7C]
            DecimalInteger.append(n, to: &out)
            #expect(out == [0x7C] + Array(String(n).utf8))
            #expect(DecimalInteger.parse(DecimalInteger.digits(n)) == n)
        }
    }
}
