import Testing
@testable import Ingest

@Suite struct CSVParserTests {
    func split(_ s: String) throws -> [String] {
        var scratch = [UInt8]()
        var fields = [Range<Int>]()
        try Array(s.utf8).withUnsafeBytes { try CSVParser.fields(of: $0, scratch: &scratch, fields: &fields) }
        return fields.map { String(decoding: scratch[$0], as: UTF8.self) }
    }

    @Test func fieldsAsPythonWritesThem() throws {
        #expect(try split("a,b,c") == ["a", "b", "c"])
        #expect(try split("a,,c\r") == ["a", "", "c"])
        #expect(try split("") == [""])
        #expect(try split(",") == ["", ""])
        #expect(try split("\"import,ios\",x") == ["import,ios", "x"])
        #expect(try split("\"say \"\"hi\"\"\",\"\"") == ["say \"hi\"", ""])
        #expect(try split("\"line\nbreak\",2") == ["line\nbreak", "2"])
        #expect(try split("Ünïcödé,日本") == ["Ünïcödé", "日本"])
    }

    @Test func malformedFieldsNameTheField() {
        #expect(throws: RecordError(field: 2, message: "unterminated quoted field")) { try split("a,\"open") }
        #expect(throws: RecordError(field: 1, message: "quote inside an unquoted field")) { try split("ab\"c") }
        #expect(throws: RecordError(field: 1, message: "unexpected character after a closing quote")) { try split("\"ab\"c,d") }
    }

    @Test func recordEndsRespectQuotes() {
        let b = Array("1,\"a\nb\"\n2,c\n".utf8)
        b.withUnsafeBytes { raw in
            let first = CSVParser.recordEnd(raw, from: 0)
            #expect(first.complete && first.end == 7)
            let second = CSVParser.recordEnd(raw, from: 8)
            #expect(second.complete && second.end == 11)
            #expect(!CSVParser.recordEnd(raw, from: 12).complete)
        }
    }
}
