#if canImport(Glibc)
import Glibc
#endif
import Testing
import Catalog
import ColdStore
import Ingest
import Query
import HotTier
import StrataCore
import SystemSupport
import Workload
@testable import Tiering

/// The read path's cached view of the cold tier: one snapshot per catalog state, rebuilt
/// when another connection commits, and refusing what is corrupt.
@Suite(.serialized) struct ColdTierTests {
    func imported(_ f: Fixture, rows: Int) throws {
        let csv = f.dir.path + "/snapshot-\(rows).csv"
        try Generator.writeSnapshot(rows: rows, format: .csv, to: csv)
        _ = try TicketImporter(cold: f.cold, catalog: f.catalog).run(files: [csv])
    }

    @Test func aSnapshotIsKeptUntilTheCatalogChanges() async throws {
        let f = try await Fixture(tickets: 10, preload: false)
        #expect(try f.coldTier.snapshot().map { $0.segments(Tables.tickets.name).count } == 0)
        try imported(f, rows: 300)
        let first = try #require(try f.coldTier.snapshot())
        #expect(first.segments(Tables.tickets.name).count == 1)
        #expect(try f.coldTier.snapshot() === first, "nothing changed: the same snapshot")
        // Another connection commits: a new snapshot, with the segment reader kept open.
        let seg = try f.catalog.liveSegments(table: Tables.tickets.name)[0]
        let id = try #require(seg.minID)
        try f.catalog.supersede(segment: seg.id, rows: [0])
        let second = try #require(try f.coldTier.snapshot())
        #expect(second !== first)
        #expect(second.segments(Tables.tickets.name)[0].deleted.contains(0))
        #expect(!first.segments(Tables.tickets.name)[0].deleted.contains(0), "a snapshot taken before does not change")
        #expect(try second.ticket(id) == nil, "row 0 superseded: the ticket has no current cold row")
        // Where tickets' current rows are (what a run supersedes when it moves them again).
        let last = try #require(try second.ticket(seg.maxID!))
        let found = try second.currentRows(of: [id, seg.maxID!])
        #expect(found.map(\.id) == [seg.maxID!] && found.map(\.segment) == [last.segment] && found.map(\.row) == [last.row],
                "the superseded ticket has none; the other its one row: \(found)")
        // A second segment appears in the next snapshot; a ticket in both has two current rows.
        try imported(f, rows: 50)
        let third = try #require(try f.coldTier.snapshot())
        #expect(third.segments(Tables.tickets.name).count == 2)
        let newer = try f.catalog.liveSegments(table: Tables.tickets.name)[1]
        let both = try #require(newer.maxID)
        let inFirst = try second.ticket(both) != nil
        let rows = try third.currentRows(of: [both])
        #expect(rows.map(\.segment) == (inFirst ? [seg.id, newer.id] : [newer.id]), "\(rows)")
        #expect(try third.currentRows(of: [Int64]()).isEmpty)
    }

    /// The row-group test of `currentRows`, by bisection, against a scan of every id.
    @Test func aRowGroupIsReadWhenAWantedIDIsInItsRange() {
        var rng = SplitMix64(seed: 26)
        for _ in 0..<500 {
            let ids = (0..<Int(rng.next() % 12)).map { _ in Int64(rng.next() % 60) - 10 }.sorted()
            let lo = Int64(rng.next() % 70) - 15, hi = lo + Int64(rng.next() % 20) - 2
            #expect(ColdSnapshot.anyWithin(ids, lo, hi) == ids.contains { lo <= $0 && $0 <= hi }, "\(ids) in \(lo)...\(hi)")
        }
    }

    @Test func aSegmentWhoseRowsAreNotTheCatalogsFailsTheQuery() async throws {
        let f = try await Fixture(tickets: 10, preload: false)
        try imported(f, rows: 200)
        let seg = try f.catalog.liveSegments(table: Tables.tickets.name)[0]
        try f.catalog.db.query("UPDATE segments SET rows = rows + 1 WHERE id = ?", [.integer(seg.id)])
        let engine = QueryEngine(source: TieredTableSource(pool: nil, layout: KeyLayout(), coldTier: f.coldTier))
        do throws(QueryError) {
            _ = try engine.execute("SELECT count(*) FROM tickets")
            Issue.record("a segment that disagrees with the catalog was read")
        } catch {
            #expect(error.kind == .unavailable)
            #expect("\(error)".contains("holds 200 rows where the catalog registered 201"), "\(error)")
        }
    }

    @Test func anOpenSegmentStaysReadableAfterItsFileIsGone() async throws {
        // A merge retires and removes a file a snapshot still reads: the reader keeps its descriptor.
        let f = try await Fixture(tickets: 10, preload: false)
        try imported(f, rows: 100)
        let snapshot = try #require(try f.coldTier.snapshot())
        let seg = try f.catalog.liveSegments(table: Tables.tickets.name)[0]
        #expect(unlink(f.cold.absolutePath(seg.file)) == 0)
        #expect(try snapshot.ticket(seg.minID!)?.values.first == .integer(seg.minID!))
    }
}

extension ColdTicketRow {
    var id: Int64 { if case .integer(let n) = values[0] { return n }; return -1 }
}
