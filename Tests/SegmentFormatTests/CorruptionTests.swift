import Testing
import StrataCore
@testable import SegmentFormat

/// SQLite's corruptC.test in spirit: damage a real segment byte by byte, and check that
/// every flip is caught with an error that names the file (and the block, when the
/// damage is in one), and that no read ever returns a wrong value.
@Suite struct CorruptionTests {
    static func smallSegment() throws -> ([UInt8], [ColumnVector]) {
        var rng = SeededRandom(seed: 20261127)
        let cols = randomColumns(Tables.tickets, rows: 40, rng: &rng)
        return (try writeSegment(Tables.tickets, cols, rowGroupSize: 16), cols)
    }

    @Test func everyFlippedByteIsDetected() throws {
        let (good, _) = try Self.smallSegment()
        #expect(good.count > 1000)
        var undetected = [Int]()
        for offset in 0..<good.count {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var bad = good
                bad[offset] ^= mask
                do {
                    // Every byte is covered by a checksum or a check: a read must not succeed.
                    _ = try readAll(bad, name: "flip.seg")
                    undetected.append(offset)
                } catch let e as SegmentError {
                    #expect(e.file == "flip.seg")
                    #expect(e.description.hasPrefix("flip.seg: "))
                }
            }
        }
        #expect(undetected.isEmpty, "flips not detected at offsets \(undetected.prefix(20))")
    }

    @Test func flipsInsideABlockNameThatBlock() throws {
        let (good, _) = try Self.smallSegment()
        let reader = try SegmentReader(source: MemorySource(good), name: "b.seg")
        for (g, group) in reader.footer.rowGroups.enumerated() {
            for (c, m) in group.chunks.enumerated() where m.storedLength > 0 {
                var bad = good
                bad[Int(m.offset) + Int(m.storedLength) / 2] ^= 0x10
                let r = try SegmentReader(source: MemorySource(bad), name: "b.seg")
                let problems = r.verify()
                #expect(problems.count == 1)
                #expect(problems.first?.block?.rowGroup == g)
                #expect(problems.first?.block?.column == reader.footer.columns[c].name)
                #expect(problems.first?.kind == .corruptBlock)
                #expect(problems.first?.description.contains("checksum mismatch") == true)
            }
        }
    }

    @Test func truncatedFilesAreClearErrors() throws {
        let (good, _) = try Self.smallSegment()
        for length in [0, 1, 15, 16, 35, 36, good.count / 2, good.count - 1] {
            let bad = Array(good.prefix(length))
            #expect(throws: SegmentError.self) { _ = try readAll(bad, name: "t.seg") }
            do { _ = try SegmentReader(source: MemorySource(bad), name: "t.seg") } catch let e as SegmentError {
                if length == 0 { #expect(e.description == "t.seg: truncated: the file is empty (0 bytes)") }
                else { #expect(e.kind == .truncated || e.kind == .corruptFooter) }
            }
        }
    }

    @Test func wrongMagicAndFutureVersion() throws {
        let (good, _) = try Self.smallSegment()
        var notOurs = good
        notOurs.replaceSubrange(0..<8, with: Array("PAR1PAR1".utf8))
        #expect(throws: SegmentError(file: "m.seg", kind: .notASegment, message: "header magic is damaged")) {
            _ = try SegmentReader(source: MemorySource(notOurs), name: "m.seg")
        }
        let csv = Array("id,created_at\n1,2026-01-01T00:00:00Z\n".utf8) + [UInt8](repeating: 0x20, count: 40)
        #expect(throws: SegmentError(file: "c.seg", kind: .notASegment, message: "no segment magic at the start of the file")) {
            _ = try SegmentReader(source: MemorySource(csv), name: "c.seg")
        }
        // A version-2 file written by a future build: header and trailer both say 2.
        var future = good
        future[8] = 2
        let crc = CRC32C.checksum(Array(future[0..<12]))
        withUnsafeBytes(of: crc.littleEndian) { future.replaceSubrange(12..<16, with: $0) }
        future[future.count - 12] = 2
        do {
            _ = try SegmentReader(source: MemorySource(future), name: "v.seg")
            Issue.record("a future version was accepted")
        } catch let e as SegmentError {
            #expect(e.kind == .unsupportedVersion)
            #expect(e.message.contains("newer than this build reads"))
        }
    }
}
