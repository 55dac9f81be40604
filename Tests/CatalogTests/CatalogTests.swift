import Testing
import SystemSupport
import StrataTesting
@testable import Catalog

@Suite struct CatalogTests {
    func segment(_ file: String, ids: ClosedRange<Int64>) -> Catalog.Segment {
        Catalog.Segment(id: 0, table: "tickets", file: file, rows: ids.count > 0 ? Int64(ids.count) : 0, bytes: 100,
                        minID: ids.lowerBound, maxID: ids.upperBound, minTime: 1, maxTime: 2, state: "live", createdAt: 0)
    }

    @Test func migratesOnceAndFindsSegmentsByIdRange() throws {
        let dir = try TemporaryDirectory(prefix: "catalog")
        defer { dir.remove() }
        let path = dir.path + "/catalog.sqlite"
        do {
            let c = try Catalog(path: path)
            #expect(c.schemaVersion == Catalog.migrations.count)
            try c.register([segment("cold/tickets/a.seg", ids: 1...1000), segment("cold/tickets/b.seg", ids: 1001...2000)])
        }
        let c = try Catalog(path: path)  // opening again applies nothing twice
        #expect(c.schemaVersion == Catalog.migrations.count)
        #expect(try c.liveSegments(table: "tickets").map(\.file) == ["cold/tickets/a.seg", "cold/tickets/b.seg"])
        #expect(try c.segments(table: "tickets", containing: 1500).map(\.file) == ["cold/tickets/b.seg"])
        #expect(try c.segments(table: "tickets", containing: 5000).isEmpty)
        #expect(try c.db.query("PRAGMA journal_mode").first?.first?.string == "wal")
    }

    @Test func aRunsSelectionRoundTripsPackedPerShard() throws {
        let dir = try TemporaryDirectory(prefix: "catalog")
        defer { dir.remove() }
        let c = try Catalog(path: dir.path + "/catalog.sqlite")
        let run = try c.startRun(kind: "migrate", now: 1)
        let items: [(ticket: Int64, shard: Int, digest: [UInt8])] = [(7, 1, [UInt8](repeating: 7, count: 20)), (-3, 0, [UInt8](repeating: 9, count: 20)),
                                                                     (Int64.max, 1, (0..<20).map { UInt8($0) })]
        try c.recordSelection(run: run, items: items, logEntries: [(1, "1-0"), (0, "2-5"), (1, "3-1")], files: ["cold/tickets/x.seg"])
        let back = try c.runItems(run)
        #expect(back.map(\.ticket) == [-3, 7, Int64.max])
        #expect(back.map(\.shard) == [0, 1, 1])
        #expect(back.map(\.blob) == [items[1].digest, items[0].digest, items[2].digest])
        #expect(Set(try c.runLogEntries(run).map { "\($0.shard):\($0.entry)" }) == ["1:1-0", "0:2-5", "1:3-1"])
        // A run recorded by the previous version (one row per ticket, whole snapshot) still reads.
        try c.db.query("INSERT INTO run_items (run_id, ticket_id, shard, blob) VALUES (?, 5, 2, ?)", [.integer(run), .blob([1, 2, 3])])
        #expect(try c.runItems(run).map(\.ticket) == [-3, 5, 7, Int64.max])
        try c.finishRun(run: run, state: "done", now: 2)
        #expect(try c.runItems(run).isEmpty && c.runLogEntries(run).isEmpty)
        // A damaged packed row is an error, not a wrong selection.
        let run2 = try c.startRun(kind: "migrate", now: 3)
        try c.db.query("INSERT INTO run_shards (run_id, shard, tickets, entries) VALUES (?, 0, ?, '')", [.integer(run2), .blob([1, 2, 3])])
        #expect(throws: SQLiteError.self) { _ = try c.runItems(run2) }
    }

    @Test func registrationIsAllOrNothing() throws {
        let dir = try TemporaryDirectory(prefix: "catalog")
        defer { dir.remove() }
        let c = try Catalog(path: dir.path + "/c.sqlite")
        try c.register([segment("x.seg", ids: 1...2)])
        #expect(throws: SQLiteError.self) { try c.register([segment("y.seg", ids: 3...4), segment("x.seg", ids: 5...6)]) }
        #expect(try c.allSegments().map(\.file) == ["x.seg"])
    }

    @Test func aNewerSchemaIsRefused() throws {
        let dir = try TemporaryDirectory(prefix: "catalog")
        defer { dir.remove() }
        let path = dir.path + "/c.sqlite"
        _ = try Catalog(path: path)
        try SQLiteDatabase(path: path).execute("PRAGMA user_version = 99")
        do { _ = try Catalog(path: path); Issue.record("opened a newer catalog") } catch let e as SQLiteError {
            #expect(e.message.contains("newer than this build knows"))
        }
    }
}

import Dispatch
import Synchronization

@Suite struct ConcurrentOpenTests {
    @Test func manyOpenersOfANewCatalogMigrateItOnce() throws {
        for round in 0..<5 {
            let dir = try TemporaryDirectory(prefix: "catalog")
            defer { dir.remove() }
            let path = dir.path + "/c.sqlite"
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                do { _ = try Catalog(path: path) } catch { failures.withLock { $0.append("\(error)") } }
            }
            #expect(failures.withLock { $0 } == [], "round \(round)")
            #expect(try Catalog(path: path).schemaVersion == Catalog.migrations.count)
        }
    }
}
