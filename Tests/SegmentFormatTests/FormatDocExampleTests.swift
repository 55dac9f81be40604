import Testing
import StrataCore
@testable import SegmentFormat

/// The examples of docs/format.md, byte for byte: the document and the code agree.
@Suite struct FormatDocExampleTests {
    func hex(_ b: [UInt8]) -> String { b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined(separator: " ") }
    func i64(_ v: Int64) -> String { hex(withUnsafeBytes(of: v.littleEndian) { Array($0) }) }

    func integers(_ v: [Int64], _ e: Encoding, ref: [Int64]? = nil) -> String {
        var w = ByteWriter()
        IntegerCodec.encode(v, as: e, ref: ref, into: &w)
        return hex(w.bytes)
    }

    @Test func integerExamples() {
        #expect(integers([5, -1], .plain) == "05 00 00 00 00 00 00 00 FF FF FF FF FF FF FF FF")
        #expect(integers([1000, 1003, 1001], .frameOfReference) == i64(1000) + " 02 1C")
        #expect(integers([7, 8, 9, 10], .delta) == i64(7) + " " + i64(1) + " 00")
        #expect(integers([100, 160, 220, 281], .deltaOfDelta) == i64(100) + " " + i64(60) + " 02 08")
        #expect(integers([0, 0, 0, 2, 2], .runLength) == "02 00 00 00 " + i64(0) + " 02 08 02 06")
        #expect(integers([1_000_120_000, 1_000_060_000], .referenceDelta, ref: [1_000_000_000, 1_000_000_000])
                == i64(60_000) + " 10 60 EA 00 00")
    }

    @Test func stringExamples() {
        var plain = StringColumn()
        for s in ["ab", "", "c"] { plain.append(s) }
        var w = ByteWriter()
        StringCodec.encodePlain(plain, into: &w)
        #expect(hex(w.bytes) == "02 12 61 62 63")
        var values = StringColumn()
        for s in ["open", "new", "open"] { values.append(s) }
        let d = StringCodec.dictionary(of: values, limit: 10)!
        w = ByteWriter()
        StringCodec.encodeDictionary(d.dictionary, codes: d.codes, into: &w)
        #expect(hex(w.bytes) == "02 00 00 00 03 23 6E 65 77 6F 70 65 6E 01 " + i64(0) + " 01 05")
    }

    @Test func headerAndTrailer() {
        let h = SegmentLayout.header()
        #expect(h.count == 16 && Array(h[0..<8]) == Array("STRATASG".utf8) && h[8] == 1)
        let t = SegmentLayout.trailer(footerLength: 300, footerCRC: 0xAABBCCDD)
        #expect(hex(t) == "2C 01 00 00 DD CC BB AA 01 00 00 00 53 54 52 41 54 41 53 47")
    }
}
