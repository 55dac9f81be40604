import Testing
import StrataTesting
import StrataCore
@testable import SegmentFormat

/// Input made to get past the checksums: block contents changed and their CRC32Cs
/// recomputed, as a buggy or hostile writer would. Decoding must end in an error or in
/// values, never in a crash or an out-of-bounds read.
@Suite struct HostileInputTests {
    /// Replaces block `(g, c)`'s stored bytes (same length) and fixes every checksum.
    static func forge(_ file: [UInt8], g: Int, c: Int, _ mutate: (inout [UInt8]) -> Void) throws -> [UInt8] {
        let r = try SegmentReader(source: MemorySource(file), name: "f.seg")
        var footer = r.footer
        let m = footer.rowGroups[g].chunks[c]
        var block = Array(file[Int(m.offset)..<Int(m.offset) + Int(m.storedLength)])
        mutate(&block)
        var out = file
        out.replaceSubrange(Int(m.offset)..<Int(m.offset) + Int(m.storedLength), with: block)
        footer.rowGroups[g].chunks[c].crc32c = CRC32C.checksum(block)
        let encoded = SegmentLayout.encodeFooter(footer)
        let start = file.count - SegmentLayout.trailerSize - encoded.count
        out.replaceSubrange(start..<file.count, with: encoded + SegmentLayout.trailer(footerLength: encoded.count, footerCRC: CRC32C.checksum(encoded)))
        return out
    }

    @Test func forgedBlocksNeverCrashTheDecoder() throws {
        let seed = testSeed("forgedBlocksNeverCrashTheDecoder")
        var rng = SeededRandom(seed: seed)
        var cols = randomColumns(Tables.tickets, rows: 300, rng: &rng)
        cols[12] = ColumnVector(values: .strings({ var s = StringColumn(); for i in 0..<300 { s.append("subject \(i % 7)") }; return s }()))
        let good = try writeSegment(Tables.tickets, cols, rowGroupSize: 300)
        let reader = try SegmentReader(source: MemorySource(good), name: "f.seg")
        var errors = 0, decoded = 0
        for _ in 0..<3000 {
            let c = Int(rng.next() % UInt64(Tables.tickets.columns.count))
            guard reader.footer.rowGroups[0].chunks[c].storedLength > 0 else { continue }
            let forged = try Self.forge(good, g: 0, c: c) { block in
                for _ in 0...Int(rng.next() % 4) {
                    let i = Int(rng.next() % UInt64(block.count))
                    block[i] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            do {
                let r = try SegmentReader(source: MemorySource(forged), name: "f.seg")
                // Chosen rows alone (a point lookup) walk the streams another way.
                _ = try? r.readRowGroup(0, columns: Array(r.footer.columns.indices), rows: [0, 1 + Int(rng.next() % 298), 299])
                _ = try r.readRowGroup(0, columns: Array(r.footer.columns.indices))
                decoded += 1
            } catch is SegmentError {
                errors += 1
            }
        }
        // Most forgeries break a length, a width or the statistics check; all end cleanly.
        #expect(errors > 0)
        print("forged blocks (seed \(seed)): \(errors) errors, \(decoded) decoded without a crash")
    }

    @Test func randomBytesAreNeverASegment() throws {
        var rng = SeededRandom(seed: testSeed("randomBytesAreNeverASegment"))
        for _ in 0..<2000 {
            let n = Int(rng.next() % 400)
            var b = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if n > 40 && rng.next() % 2 == 0 {  // give it both magics to get further in
                b.replaceSubrange(0..<8, with: SegmentLayout.magic)
                b.replaceSubrange((n - 8)..<n, with: SegmentLayout.magic)
            }
            #expect(throws: SegmentError.self) { _ = try SegmentReader(source: MemorySource(b), name: "r.seg") }
        }
    }

    @Test func randomFootersNeverCrashTheFooterDecoder() {
        var rng = SeededRandom(seed: testSeed("randomFootersNeverCrashTheFooterDecoder"))
        let real = SegmentLayout.encodeFooter(try! SegmentReader(source: MemorySource(try! writeSegment(Tables.tickets,
            randomColumns(Tables.tickets, rows: 50, rng: &rng), rowGroupSize: 20)), name: "x").footer)
        var decoded = 0
        for _ in 0..<5000 {
            var b = real
            for _ in 0...Int(rng.next() % 6) { b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            if rng.next() % 3 == 0 { b.removeLast(Int(rng.next() % UInt64(b.count))) }
            // A footer that decodes is one the writer could have written: it encodes to the
            // same bytes (nothing in it was skipped or read loosely).
            guard let footer = try? b.withUnsafeBytes({ try SegmentLayout.decodeFooter($0) }) else { continue }
            decoded += 1
            #expect(SegmentLayout.encodeFooter(footer) == b, "a forged footer decoded to one that encodes differently")
        }
        #expect(decoded < 5000, "every forged footer decoded")
    }
}
