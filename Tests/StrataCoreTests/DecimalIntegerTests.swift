import Testing
import StrataCore

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
}
