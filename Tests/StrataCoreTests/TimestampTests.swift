import Testing
@testable import StrataCore

@Suite struct TimestampTests {
    @Test func parsesWhatTheGeneratorWrites() {
        #expect(Timestamp.parse("2026-10-23T07:51:50.288Z") == 1_792_741_910_288)
        #expect(Timestamp.parse("1970-01-01T00:00:00Z") == 0)
        #expect(Timestamp.parse("1969-12-31T23:59:59.999Z") == -1)
        #expect(Timestamp.parse("2026-10-23T09:51:50.288+02:00") == 1_792_741_910_288)
        #expect(Timestamp.parse("2026-10-23 07:51:50.2889999Z") == 1_792_741_910_288)
        #expect(Timestamp.parse("2024-02-29T00:00:00Z") != nil)
        #expect(Timestamp.parse("0001-01-01T00:00:00Z") == Timestamp.minMs)
        #expect(Timestamp.parse("9999-12-31T23:59:59.999Z") == Timestamp.maxMs)
    }

    @Test func rejectsWhatIsNotRFC3339() {
        for bad in ["", "2026-10-23", "2026-10-23T07:51:50", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
                    "2026-10-23T24:00:00Z", "2026-10-23T07:60:00Z", "2026-10-23T07:51:50.Z", "2026-10-23T07:51:50.288ZZ",
                    "2026-10-23T07:51:50.0000000001Z", "20261023T075150Z", "2026-10-23T07:51:50+2:00", " 2026-10-23T07:51:50Z",
                    "0000-01-01T00:00:00Z"] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func formatRoundTripsEveryDayOverCenturies() {
        var ms: Int64 = Timestamp.parse("1899-12-31T23:59:59.999Z")!
        while ms < Timestamp.parse("2101-01-01T00:00:00Z")! {
            let s = Timestamp.format(ms)
            #expect(Timestamp.parse(s) == ms, "\(s)")
            ms += 86_400_000 + 3_723_001
        }
        #expect(Timestamp.format(1_792_741_910_288) == "2026-10-23T07:51:50.288Z")
        #expect(Timestamp.format(-1) == "1969-12-31T23:59:59.999Z")
    }
}

@Suite struct JSONTests {
    @Test func parsesValues() throws {
        let v = try JSONParser.parse(Array(#"{"a":[1,-2,3.5,true,false,null],"b":"x\u00e9\ud83c\udfab\n","c":{}}"#.utf8))
        #expect(v["a"] == .array([.integer(1), .integer(-2), .double(3.5), .bool(true), .bool(false), .null]))
        #expect(v["b"] == .string("xé🎫\n"))
        #expect(v["c"] == .object([]))
        #expect(try JSONParser.parse(Array("-9223372036854775808".utf8)) == .integer(Int64.min))
    }

    @Test func rejectsMalformedInputWithItsOffset() {
        let cases: [(String, String)] = [
            ("{\"a\":1,}", "expected a string key at byte 8"),
            ("{\"a\" 1}", "expected ':' at byte 6"),
            ("[1 2]", "expected ',' or ']' at byte 4"),
            ("01", "leading zero in a number at byte 1"),
            ("9223372036854775808", "integer 9223372036854775808 out of the 64-bit range at byte 1"),
            ("\"a\u{1}\"", "control character in a string at byte 3"),
            ("\"\\ud800\"", "unpaired surrogate in a string at byte 8"),
            ("{\"a\":1,\"a\":2}", "duplicate key \"a\" at byte 8"),
            ("{} x", "unexpected text after the JSON value at byte 4"),
            ("tru", "invalid literal at byte 1"),
            (String(repeating: "[", count: 40), "JSON nested deeper than 32 at byte 33"),
        ]
        for (text, message) in cases {
            #expect(throws: Error.self) { try JSONParser.parse(Array(text.utf8)) }
            do { _ = try JSONParser.parse(Array(text.utf8)) } catch { #expect("\(error)" == message, "\(text)") }
        }
        #expect(throws: JSONError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }  // invalid UTF-8
    }
}
