import Testing
import StrataCore
@testable import SegmentFormat

@Suite struct BatchTests {
    @Test func batchesCoverEveryRowOnceInOrder() throws {
        var rng = SeededRandom(seed: 99)
        let cols = randomColumns(Tables.tickets, rows: 5000, rng: &rng)
        let r = try SegmentReader(source: MemorySource(try writeSegment(Tables.tickets, cols, rowGroupSize: 3000)), name: "b.seg")
        var it = r.batches(table: Tables.tickets, columns: ["id", "subject"], batchSize: 2048)
        var sizes = [Int]()
        var ids = ColumnVector.emptyIntegers()
        var subjects = ColumnVector.emptyStrings()
        var next = 0
        while let b = try it.next() {
            #expect(b.firstRow == next)
            next += b.count
            sizes.append(b.count)
            ids.append(contentsOf: b.columns[0])
            subjects.append(contentsOf: b.columns[1])
        }
        #expect(sizes == [2048, 952, 2000])
        #expect(sameValues(ids, cols[0]))
        #expect(sameValues(subjects, cols[12]))
    }

    @Test func aColumnAddedToTheSchemaLaterReadsAsNull() throws {
        var rng = SeededRandom(seed: 5)
        let cols = randomColumns(Tables.tickets, rows: 10, rng: &rng)
        let r = try SegmentReader(source: MemorySource(try writeSegment(Tables.tickets, cols, rowGroupSize: 10)), name: "old.seg")
        let newer = TableSchema(name: "tickets", columns: Tables.tickets.columns + [ColumnDef("sla_policy", .string, nullable: true)],
                                idColumn: "id", timeColumn: "updated_at")
        let got = try r.readRowGroup(0, table: newer, columns: ["sla_policy", "id"])
        #expect(got[0].count == 10 && got[0].nullCount == 10)
        #expect(sameValues(got[1], cols[0]))
        let strict = TableSchema(name: "tickets", columns: Tables.tickets.columns + [ColumnDef("must", .int64)],
                                 idColumn: "id", timeColumn: "updated_at")
        #expect(throws: SegmentError.self) { _ = try r.readRowGroup(0, table: strict, columns: ["must"]) }
    }
}
