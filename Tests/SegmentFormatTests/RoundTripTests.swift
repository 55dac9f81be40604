import Testing
import StrataTesting
import StrataCore
@testable import SegmentFormat

@Suite struct RoundTripTests {
    @Test(arguments: [1, 7, 100, 128, 129, 1024, 1025, 4096])
    func ticketsRoundTrip(rows: Int) throws {
        let seed = testSeed("ticketsRoundTrip(\(rows))")
        var rng = SeededRandom(seed: seed)
        let cols = randomColumns(Tables.tickets, rows: rows, rng: &rng)
        let bytes = try writeSegment(Tables.tickets, cols, rowGroupSize: 1024)
        let back = try readAll(bytes)
        for (i, def) in Tables.tickets.columns.enumerated() {
            #expect(sameValues(cols[i], back[i]), "column \(def.name), seed \(seed)")
        }
    }

    @Test func manyShapesManySeeds() throws {
        let base = testSeed("manyShapesManySeeds")
        for k in 0..<40 {
            var rng = SeededRandom(seed: base &+ UInt64(k))
            let rows = Int(rng.next() % 3000) + 1
            let size = [1, 2, 64, 128, 1000, 65_536][Int(rng.next() % 6)]
            for schema in Tables.all {
                let cols = randomColumns(schema, rows: rows, rng: &rng)
                let bytes = try writeSegment(schema, cols, rowGroupSize: size)
                let back = try readAll(bytes)
                for i in cols.indices {
                    #expect(sameValues(cols[i], back[i]), "\(schema.name).\(schema.columns[i].name) seed \(base &+ UInt64(k)) rows \(rows) group \(size)")
                }
            }
        }
    }

    /// Decoding chosen rows alone (point lookups) gives what a full decode gives at those
    /// rows, for every encoding the writer picks.
    @Test func chosenRowsDecodeAsTheWholeGroup() throws {
        let base = testSeed("chosenRowsDecodeAsTheWholeGroup")
        var seen = Set<Encoding>()
        let every: Set<Encoding> = [.plain, .frameOfReference, .delta, .deltaOfDelta, .runLength, .referenceDelta, .plainString, .dictionary]
        // At least 15 shapes, and more until every encoding has been met (bounded).
        var k = 0
        while k < 15 || (!seen.isSuperset(of: every) && k < 300) {
            defer { k += 1 }
            var rng = SeededRandom(seed: base &+ UInt64(k))
            let rows = Int(rng.next() % 3000) + 1
            let size = [1, 7, 128, 1000, 65_536][Int(rng.next() % 5)]
            for schema in Tables.all {
                let cols = randomColumns(schema, rows: rows, rng: &rng)
                let bytes = try writeSegment(schema, cols, rowGroupSize: size)
                let r = try SegmentReader(source: MemorySource(bytes), name: "x.seg")
                for (g, group) in r.footer.rowGroups.enumerated() {
                    for m in group.chunks { seen.insert(m.encoding) }
                    let n = group.rowCount
                    let whole = try r.readRowGroup(g, columns: Array(r.footer.columns.indices))
                    for _ in 0..<4 {
                        var picked = Set<Int>()
                        switch rng.next() % 4 {
                        case 0: picked = [0, n - 1]
                        case 1: picked = Set(0..<n)
                        default: for _ in 0..<(1 + Int(rng.next() % 6)) { picked.insert(Int(rng.next() % UInt64(n))) }
                        }
                        let chosen = picked.sorted()
                        let part = try r.readRowGroup(g, columns: Array(r.footer.columns.indices), rows: chosen)
                        for c in r.footer.columns.indices {
                            #expect(sameValues(part[c]!, whole[c]!.selecting(chosen)),
                                    "\(schema.name).\(r.footer.columns[c].name) \(group.chunks[c].encoding) rows \(chosen) of \(n), seed \(base &+ UInt64(k))")
                        }
                    }
                }
            }
        }
        // The random shapes reach every encoding.
        #expect(seen.isSuperset(of: every), "\(seen) after \(k) shapes")
    }

    @Test func exactRowGroupBoundaryAndCounts() throws {
        var rng = SeededRandom(seed: 7)
        let cols = randomColumns(Tables.tickets, rows: 3 * 256, rng: &rng)
        let bytes = try writeSegment(Tables.tickets, cols, rowGroupSize: 256)
        let r = try SegmentReader(source: MemorySource(bytes), name: "x.seg")
        #expect(r.footer.rowGroups.map(\.rowCount) == [256, 256, 256])
        #expect(r.rowCount == 768)
        let back = try readAll(bytes)
        #expect(sameValues(cols[0], back[0]))
    }

    @Test func streamingAppendsInPiecesEqualOneAppend() throws {
        var rng = SeededRandom(seed: 11)
        let cols = randomColumns(Tables.tickets, rows: 1000, rng: &rng)
        var w = try SegmentWriter(schema: Tables.tickets, sink: MemorySink(), rowGroupSize: 300, createdAtMs: 0)
        var start = 0
        for piece in [1, 299, 0, 450, 250] {
            try w.append(cols.map { $0.slice(start, piece) })
            start += piece
        }
        _ = try w.finish()
        #expect(w.sink.bytes == (try writeSegment(Tables.tickets, cols, rowGroupSize: 300)))
    }

    @Test func projectionReadsOnlyTheNeededBlocks() throws {
        var rng = SeededRandom(seed: 3)
        let cols = randomColumns(Tables.tickets, rows: 500, rng: &rng)
        let bytes = try writeSegment(Tables.tickets, cols, rowGroupSize: 500)
        final class CountingSource: ByteSource {
            let inner: MemorySource
            var reads: [(Int, Int)] = []
            init(_ b: [UInt8]) { inner = MemorySource(b) }
            var size: Int { inner.size }
            func read(offset: Int, count: Int) throws -> [UInt8] {
                reads.append((offset, count))
                return try inner.read(offset: offset, count: count)
            }
        }
        let src = CountingSource(bytes)
        let r = try SegmentReader(source: src, name: "p.seg")
        src.reads.removeAll()
        let status = Tables.tickets.index(of: "status")!
        let got = try r.readRowGroup(0, columns: [status])
        #expect(got.keys.sorted() == [status])
        #expect(src.reads.count == 1)
        #expect(src.reads[0].0 == Int(r.footer.rowGroups[0].chunks[status].offset))
        #expect(sameValues(got[status]!, cols[status]))
    }

    @Test func writerRejectsRowsThatBreakTheSchema() throws {
        var cols = Tables.tickets.columns.map { ColumnVector.empty(for: $0.type) }
        for (i, def) in Tables.tickets.columns.enumerated() {
            if def.type.isInteger { cols[i].appendInteger(1) } else if case .enumeration(let v) = def.type {
                cols[i].appendString(Array(v[0].utf8))
            } else { cols[i].appendString(Array("x".utf8)) }
        }
        var w = try SegmentWriter(schema: Tables.tickets, sink: MemorySink(), createdAtMs: 0)
        var bad = cols
        bad[Tables.tickets.index(of: "status")!] = ColumnVector(values: .strings({ var s = StringColumn(); s.append("bogus"); return s }()))
        #expect(throws: SegmentWriteError.self) { try w.append(bad) }
        bad = cols
        bad[Tables.tickets.index(of: "satisfaction")!] = ColumnVector(values: .integers([300]))
        #expect(throws: SegmentWriteError.self) { try w.append(bad) }
        bad = cols
        bad[0] = ColumnVector(values: .integers([0]), validity: Bitmap(count: 1, allSet: false))
        #expect(throws: SegmentWriteError.self) { try w.append(bad) }
        try w.append(cols)
        #expect(try w.finish().rowCount == 1)
    }
}
