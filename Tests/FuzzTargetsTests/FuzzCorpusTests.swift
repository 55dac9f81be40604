import Foundation
import Testing
@testable import FuzzTargets
import HotTier
import Query
import StrataCore
import SystemSupport
import StrataTesting


/// Every input of the committed fuzz corpus (seeds, and inputs that once found a fault) is
/// handled as the rules say by its target: the libFuzzer runs of `scripts/fuzz` start from
/// them, and a fault found there becomes a file here (docs/fuzzing.md).
@Suite struct FuzzCorpusTests {
    @Test(arguments: FuzzTarget.allCases)
    func theCorpusIsHandledAsTheRulesSay(_ target: FuzzTarget) throws {
        let dir = ProjectPaths.root + "/Tests/FuzzTargetsTests/corpus/" + target.rawValue
        var files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { dir + "/" + $0 }
        #expect(files.count >= 4, "\(dir) has \(files.count) inputs")
        if target == .sql {  // the analyst queries are seeds too
            let examples = ProjectPaths.root + "/examples/queries"
            files += try FileManager.default.contentsOfDirectory(atPath: examples).filter { $0.hasSuffix(".sql") }.sorted().map { examples + "/" + $0 }
        }
        for path in files {
            let bytes = try #require(readWholeFile(path))
            #expect(target.run(bytes) == nil, "\(target.rawValue) \(path): \(target.run(bytes) ?? "")")
        }
    }

    /// The checks can fail: each finds a wrong answer planted in what it checks.
    @Test func theChecksFindPlantedFaults() throws {
        let schema = Tables.tickets
        let csat = schema.index(of: "satisfaction")!, updated = schema.index(of: "updated_at")!
        var event = TicketEvent(op: .patch, id: 5, writer: "w", vv: [("w", 1)], fields: [(csat, .integer(4)), (updated, .integer(0))], at: 0)
        #expect(EventFuzz.rulesBroken(event) == nil)
        event.fields[0].value = .integer(9)
        #expect(EventFuzz.rulesBroken(event)?.contains("outside its domain") == true)
        event.fields[0].value = .integer(4)
        event.vv = [("other", 1)]
        #expect(EventFuzz.rulesBroken(event)?.contains("lacks its writer") == true)

        let a = QueryResult(columns: [("x", .bigint)], rows: [[.int(1)], [.int(2)]])
        let b = QueryResult(columns: [("x", .bigint)], rows: [[.int(2)], [.int(1)]])
        let c = QueryResult(columns: [("x", .bigint)], rows: [[.int(2)], [.int(3)]])
        #expect(SQLFuzz.sameAnswer(a, b, ordered: false))
        #expect(!SQLFuzz.sameAnswer(a, b, ordered: true))
        #expect(!SQLFuzz.sameAnswer(a, c, ordered: false))

        var one = ColumnVector(values: .integers([]))
        one.appendInteger(1)
        var other = ColumnVector(values: .integers([]))
        other.appendInteger(2)
        #expect(SegmentFuzz.same(one, one) && !SegmentFuzz.same(one, other))
        var null = ColumnVector(values: .integers([]))
        null.appendNull()
        #expect(!SegmentFuzz.same(one, null))
        // Edits to the valid segment: each is refused or reads back the same values.
        for offset in stride(from: 0, to: FuzzTarget.validSegment.count, by: 97) {
            let edit = [UInt8(offset & 0xFF), UInt8(offset >> 8), 0x5A]
            #expect(FuzzTarget.segment.run(edit) == nil, "edit at \(offset)")
        }
    }
}
