import Testing
import StrataCore
import SegmentFormat
import SystemSupport
import StrataTesting
@testable import ColdStore

func someRows(_ n: Int) -> [ColumnVector] {
    Tables.tickets.columns.map { def in
        var v = ColumnVector.empty(for: def.type)
        for i in 0..<n {
            switch def.type {
            case .enumeration(let values): v.appendString(Array(values[i % values.count].utf8))
            case .string: v.appendString(Array("row \(i)".utf8))
            default: if def.nullable && i % 3 == 0 { v.appendNull() } else { v.appendInteger(Int64(i % 100)) }
            }
        }
        return v
    }
}

@Suite struct SegmentFileTests {
    @Test func stagedFilesAreInvisibleUntilPublishedAndSweptAfterACrash() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        let cold = ColdDirectory(dataDirectory: tmp.path)
        let dir = try cold.prepare(table: "tickets")
        var w = try SegmentFileWriter(directory: dir, fileName: "tickets-a.seg", schema: Tables.tickets, rowGroupSize: 100, createdAtMs: 0)
        try w.append(someRows(250))
        let staged = try w.stage()
        #expect(staged.rows == 250)
        #expect(try cold.segments(table: "tickets").isEmpty)
        #expect(try FileSystem.list(dir) == ["tickets-a.seg.tmp"])
        try staged.publish()
        #expect(try cold.segments(table: "tickets") == [dir + "/tickets-a.seg"])
        #expect(try FileSystem.list(dir) == ["tickets-a.seg"])
        let r = try openSegment(dir + "/tickets-a.seg")
        #expect(r.rowCount == 250)
        #expect(r.verify().isEmpty)
        #expect(r.source.size == staged.bytes)

        // A writer that died before publishing leaves a .tmp file: swept, the segment stays.
        var dead = try SegmentFileWriter(directory: dir, fileName: "tickets-b.seg", schema: Tables.tickets, createdAtMs: 0)
        try dead.append(someRows(10))
        #expect(try cold.sweepTemporaryFiles() == [dir + "/tickets-b.seg.tmp"])
        #expect(try FileSystem.list(dir) == ["tickets-a.seg"])
    }

    @Test func publishingOverAnExistingSegmentIsRefused() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        let dir = try ColdDirectory(dataDirectory: tmp.path).prepare(table: "tickets")
        for expectFailure in [false, true] {
            var w = try SegmentFileWriter(directory: dir, fileName: "same.seg", schema: Tables.tickets, createdAtMs: 0)
            try w.append(someRows(5))
            let s = try w.stage()
            if expectFailure {
                #expect(throws: FileError.self) { try s.publish() }
                s.discard()
            } else {
                try s.publish()
            }
        }
        #expect(try FileSystem.list(dir) == ["same.seg"])
    }

    @Test func damageOnDiskIsFoundAndNamed() throws {
        let tmp = try TemporaryDirectory()
        defer { tmp.remove() }
        let dir = try ColdDirectory(dataDirectory: tmp.path).prepare(table: "tickets")
        var w = try SegmentFileWriter(directory: dir, fileName: "d.seg", schema: Tables.tickets, rowGroupSize: 64, createdAtMs: 0)
        try w.append(someRows(200))
        try w.stage().publish()
        let path = dir + "/d.seg"
        var bytes = readWholeFile(path)!
        let r = try openSegment(path)
        let m = r.footer.rowGroups[2].chunks[12]  // subject of the third row group
        bytes[Int(m.offset) + 3] ^= 0x04
        try writeWholeFile(path, bytes)
        let problems = try openSegment(path).verify()
        #expect(problems.map(\.description) == [
            "\(path): row group 2, column 'subject' (block at byte \(m.offset), \(m.storedLength) bytes): corrupt block: checksum mismatch (stored \(hex(m.crc32c)), computed \(hex(CRC32C.checksum(Array(bytes[Int(m.offset)..<Int(m.offset) + Int(m.storedLength)])))))"
        ])
        #expect(throws: SegmentError.self) { _ = try openSegment(tmp.path + "/missing.seg") }
    }
}

func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}
