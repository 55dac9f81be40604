import Catalog
import ColdStore
import HotTier
import RedisClient
import SegmentFormat
import StrataCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One ticket from the cold tier (GET of a ticket that is not hot, and the reopen path): the
/// live segments whose id range can hold it, newest first, minus superseded rows. Reading
/// every ticket is `TieredTableSource`'s (docs/tiering.md).
public struct TieredReader {
    public let pool: RedisPool
    public let layout: KeyLayout
    public let catalog: Catalog
    public let cold: ColdDirectory

    public init(pool: RedisPool, layout: KeyLayout, catalog: Catalog, cold: ColdDirectory) {
        self.pool = pool
        self.layout = layout
        self.catalog = catalog
        self.cold = cold
    }

    /// A ticket that is not hot, from the cold tier: only segments whose id range (in
    /// the catalog) and row groups (by their id statistics) can hold it are read.
    public func coldTicket(_ id: Int64) throws -> [TicketEvent.Value]? {
        try coldLocation(id)?.values
    }

    /// Where the ticket's current cold row is: segment, row number, values.
    public func coldLocation(_ id: Int64) throws -> (segment: Int64, row: Int, values: [TicketEvent.Value], mergeState: [UInt8]?)? {
        for seg in try catalog.segments(table: Tables.tickets.name, containing: id).reversed() {
            let reader = try openSegment(cold.absolutePath(seg.file))
            let deleted = try catalog.deletionVector(segment: seg.id)
            guard let idc = reader.footer.columnIndex(Tables.tickets.idColumn) else { continue }
            var firstRow = 0
            for (g, group) in reader.footer.rowGroups.enumerated() {
                defer { firstRow += group.rowCount }
                guard case .integer(let lo)? = group.chunks[idc].min, case .integer(let hi)? = group.chunks[idc].max, lo <= id, id <= hi else { continue }
                let ids = try reader.readRowGroup(g, columns: [idc])[idc]!
                guard case .integers(let values) = ids.values, let i = values.firstIndex(of: id) else { continue }
                let row = firstRow + i
                if deleted.contains(row) { continue }
                let stored = Tables.ticketsStored
                let cols = try reader.readRowGroup(g, table: stored, columns: stored.columns.map(\.name))
                let merge = cols[stored.columns.count - 1]
                return (seg.id, row, Tables.tickets.columns.indices.map { c in
                    if cols[c].isNull(i) { return .null }
                    return Tables.tickets.columns[c].type.isInteger ? .integer(cols[c].integer(at: i)!) : .string(cols[c].string(at: i)!)
                }, merge.bytes(at: i))
            }
        }
        return nil
    }
}

/// The hot tier's way into the cold tier: a reopened old ticket's cold row, through the
/// catalog. Keeps one catalog connection and the live segments' id ranges, reloaded
/// whenever another connection committed (SQLite's `PRAGMA data_version`), so the
/// "may it be cold?" test is exact and costs no disk read.
public final class CatalogColdSource: ColdTicketSource, @unchecked Sendable {
    public let cold: ColdDirectory
    public let pool: RedisPool
    public let layout: KeyLayout
    private let state = Mutex<(catalog: Catalog?, version: Int64, ranges: [ClosedRange<Int64>])>((nil, -1, []))

    public init(cold: ColdDirectory, pool: RedisPool, layout: KeyLayout) {
        self.cold = cold
        self.pool = pool
        self.layout = layout
    }

    /// Runs `body` with the catalog (nil when there is none yet) and fresh id ranges.
    func withCatalog<R>(_ body: (Catalog?, [ClosedRange<Int64>]) throws -> R) throws -> R {
        try state.withLock { s in
            if s.catalog == nil {
                guard access(cold.catalogPath, F_OK) == 0 else { return try body(nil, []) }
                s.catalog = try Catalog(path: cold.catalogPath)
            }
            let version = try s.catalog!.db.query("PRAGMA data_version").first?.first?.int ?? 0
            if version != s.version {
                s.ranges = try s.catalog!.liveSegments(table: Tables.tickets.name).compactMap { seg in
                    guard let lo = seg.minID, let hi = seg.maxID else { return nil }
                    return lo...hi
                }
                s.version = version
            }
            return try body(s.catalog, s.ranges)
        }
    }

    public func mayHold(_ id: Int64) throws -> Bool {
        try withCatalog { _, ranges in ranges.contains { $0.contains(id) } }
    }

    public func coldState(_ id: Int64) throws -> (values: [TicketEvent.Value], version: Int64, mergeState: [UInt8]?)? {
        try withCatalog { catalog, _ in
            guard let catalog, let loc = try TieredReader(pool: pool, layout: layout, catalog: catalog, cold: cold).coldLocation(id) else { return nil }
            guard case .integer(let version) = loc.values[Tables.tickets.index(of: "version")!] else { return nil }
            return (loc.values, version, loc.mergeState)
        }
    }

    public func supersede(_ id: Int64) throws {
        try withCatalog { catalog, _ in
            guard let catalog, let loc = try TieredReader(pool: pool, layout: layout, catalog: catalog, cold: cold).coldLocation(id) else { return }
            try catalog.supersede(segment: loc.segment, rows: [loc.row])
        }
    }
}
