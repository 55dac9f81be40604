import Catalog
import ColdStore
import HotTier
import SegmentFormat
import StrataCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The cold tier as queries, lookups and the reopen path read it: one catalog connection
/// and the open segment files, kept between reads. Each read takes a `ColdSnapshot`; a new
/// one is built only when the catalog changed (another connection committed, which SQLite's
/// `PRAGMA data_version` tells; this one never writes). Segment files never change
/// once written, so an open reader is kept for as long as its segment is live.
public final class ColdTier: Sendable {
    public let cold: ColdDirectory

    struct State: @unchecked Sendable {
        var catalog: Catalog?
        /// The catalog's `data_version` the snapshot was built at.
        var version: Int64 = -1
        var snapshot: ColdSnapshot?
        var readers: [Int64: LiveSegment] = [:]
    }

    let state = Mutex(State())

    /// Reads the cold tier under `cold` (whose catalog may not exist yet: then it is empty).
    public init(cold: ColdDirectory) {
        self.cold = cold
    }

    /// The cold tier as of now, or nil when it has no catalog yet. A catalog that cannot be
    /// opened or read, or a live segment that cannot be opened, is an error.
    public func snapshot() throws -> ColdSnapshot? {
        try state.withLock { s in try current(&s) }
    }

    func current(_ s: inout State) throws -> ColdSnapshot? {
        if s.catalog == nil {
            guard access(cold.catalogPath, F_OK) == 0 else { return nil }
            do { s.catalog = try Catalog(path: cold.catalogPath) } catch {
                throw ColdTierError("opening the catalog \(cold.catalogPath) failed: \(error)")
            }
        }
        let catalog = s.catalog!
        let version = try catalog.db.query("PRAGMA data_version").first?.first?.int ?? 0
        if let snapshot = s.snapshot, version == s.version { return snapshot }
        let vectors = try catalog.deletionVectors()
        var tables = [String: [LiveSegment]]()
        var readers = [Int64: LiveSegment]()
        for seg in try catalog.liveSegments() {
            let deleted = vectors[seg.id] ?? DeletionVector()
            let live: LiveSegment
            if let open = s.readers[seg.id], open.info.file == seg.file {
                live = LiveSegment(info: seg, reader: open.reader, deleted: deleted)
            } else {
                live = try LiveSegment(opening: seg, in: cold, deleted: deleted)
            }
            readers[seg.id] = live
            tables[seg.table, default: []].append(live)
        }
        let moving = try catalog.unfinishedRuns().filter { $0.kind == MetricRow.rollupRunKind && MetricRow.movingSteps.contains($0.step) }
            .flatMap { run in try catalog.runLogEntries(run.id).compactMap { e in Int64(e.entry).map { (e.shard, run.id, $0) } } }
        let snapshot = ColdSnapshot(tables: tables, movingHours: moving)
        s.readers = readers
        s.snapshot = snapshot
        s.version = version
        return snapshot
    }
}

struct ColdTierError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// One live segment: its catalog row, its open reader and its deletion vector. Shared by the
/// row groups of a scan and read by several threads at once (safe: the reader only reads,
/// with pread, and never changes).
final class LiveSegment: @unchecked Sendable {
    let info: Catalog.Segment
    let reader: SegmentReader<FileSource>
    let deleted: DeletionVector
    let hasDeletions: Bool

    init(info: Catalog.Segment, reader: SegmentReader<FileSource>, deleted: DeletionVector) {
        self.info = info
        self.reader = reader
        self.deleted = deleted
        hasDeletions = !deleted.isEmpty
    }

    /// Opens the segment's file; one whose row count is not the catalog's is refused.
    convenience init(opening seg: Catalog.Segment, in cold: ColdDirectory, deleted: DeletionVector) throws {
        let reader = try openSegment(cold.absolutePath(seg.file))
        guard Int64(reader.rowCount) == seg.rows else {
            throw SegmentError(file: reader.name, kind: .invalidData,
                               message: "holds \(reader.rowCount) rows where the catalog registered \(seg.rows) for segment \(seg.id)")
        }
        self.init(info: seg, reader: reader, deleted: deleted)
    }

    /// The exactly-once rule's cold half: a row of a live segment counts unless its
    /// deletion vector has it (docs/tiering.md). Hot tickets hide theirs besides.
    @inline(__always)
    func isCurrent(row: Int) -> Bool { !hasDeletions || !deleted.contains(row) }
}

/// The cold tier as one read sees it, from the start of the read to its end: the live
/// segments of each table (oldest first), open, each with its deletion vector, and the
/// rollup runs whose hour hashes are still moving in Redis. The order of docs/tiering.md,
/// hot tickets first and then these segments minus their deleted rows and minus tickets
/// found hot, is applied by `TieredTableSource` for scans and by `ticket(_:)` for lookups.
public final class ColdSnapshot: Sendable {
    let tables: [String: [LiveSegment]]
    /// The hour hashes of unregistered rollup runs: (shard, run, hour).
    let movingHours: [(shard: Int, run: Int64, hour: Int64)]
    /// The id ranges of the live ticket segments (a ticket outside all of them is not cold):
    /// asked for every patch of a ticket that is not hot, so made once per snapshot.
    public let ticketRanges: [ClosedRange<Int64>]

    init(tables: [String: [LiveSegment]], movingHours: [(shard: Int, run: Int64, hour: Int64)]) {
        self.tables = tables
        self.movingHours = movingHours
        ticketRanges = (tables[Tables.tickets.name] ?? []).compactMap { s in s.info.minID.flatMap { lo in s.info.maxID.map { lo...$0 } } }
    }

    func segments(_ table: String) -> [LiveSegment] { tables[table] ?? [] }

    /// Where a ticket's current cold row is, if it has one: the newest live segment whose id
    /// range and row groups can hold it, at a row its deletion vector does not have (there is
    /// at most one: docs/tiering.md, "The exactly-once rule for readers").
    public func ticket(_ id: Int64) throws -> ColdTicketRow? {
        for seg in segments(Tables.tickets.name).reversed() {
            guard let lo = seg.info.minID, let hi = seg.info.maxID, lo <= id, id <= hi else { continue }
            let reader = seg.reader
            guard let idc = reader.footer.columnIndex(Tables.tickets.idColumn) else { continue }
            var firstRow = 0
            for (g, group) in reader.footer.rowGroups.enumerated() {
                defer { firstRow += group.rowCount }
                guard case .integer(let lo)? = group.chunks[idc].min, case .integer(let hi)? = group.chunks[idc].max, lo <= id, id <= hi else { continue }
                let ids = try reader.readRowGroup(g, columns: [idc])[idc]!
                guard case .integers(let groupIDs) = ids.values, let i = groupIDs.firstIndex(of: id) else { continue }
                let row = firstRow + i
                guard seg.isCurrent(row: row) else { continue }
                let stored = Tables.ticketsStored
                let cols = try reader.readRowGroup(g, table: stored, columns: stored.columns.map(\.name), rows: [i])
                let values: [TicketEvent.Value] = Tables.tickets.columns.indices.map { c in
                    if cols[c].isNull(0) { return .null }
                    return Tables.tickets.columns[c].type.isInteger ? .integer(cols[c].integer(at: 0)!) : .string(cols[c].string(at: 0)!)
                }
                guard case .integer(id)? = values.first else {
                    throw SegmentError(file: reader.name, kind: .invalidData, message: "row \(row) read back as another ticket than \(id)")
                }
                let mergeState = cols[stored.columns.count - 1].bytes(at: 0)
                return ColdTicketRow(segment: seg.info.id, row: row, values: values, mergeState: mergeState)
            }
        }
        return nil
    }
}

extension ColdSnapshot {
    /// Every current row of the tickets `ids` in the live ticket segments, oldest segment
    /// first: where each is (no values read). A ticket restored from the cold tier keeps its
    /// row current while it is hot (a reader takes the hot copy); when a run moves it again,
    /// the registration of its new row supersedes what this finds (`Catalog.registerRunSegments`).
    /// Whether an id of `sorted` (ascending) lies in lo...hi: the first one at or past lo, by
    /// bisection (a backfill can reopen many tickets; a scan of them per row group would not scale).
    static func anyWithin(_ sorted: [Int64], _ lo: Int64, _ hi: Int64) -> Bool {
        var a = 0, b = sorted.count
        while a < b {
            let m = (a + b) / 2
            if sorted[m] < lo { a = m + 1 } else { b = m }
        }
        return a < sorted.count && sorted[a] <= hi
    }

    public func currentRows(of ids: some Collection<Int64>) throws -> [(id: Int64, segment: Int64, row: Int)] {
        let sorted = ids.sorted()
        guard let least = sorted.first, let most = sorted.last else { return [] }
        let wanted = Set(sorted)
        var out = [(id: Int64, segment: Int64, row: Int)]()
        for seg in segments(Tables.tickets.name) {
            guard let lo = seg.info.minID, let hi = seg.info.maxID, lo <= most, least <= hi else { continue }
            let reader = seg.reader
            guard let idc = reader.footer.columnIndex(Tables.tickets.idColumn) else {
                throw SegmentError(file: reader.name, kind: .invalidData, message: "a tickets segment without an \(Tables.tickets.idColumn) column")
            }
            var firstRow = 0
            for (g, group) in reader.footer.rowGroups.enumerated() {
                defer { firstRow += group.rowCount }
                guard case .integer(let lo)? = group.chunks[idc].min, case .integer(let hi)? = group.chunks[idc].max, lo <= most, least <= hi,
                      Self.anyWithin(sorted, lo, hi) else { continue }
                guard case .integers(let groupIDs) = try reader.readRowGroup(g, columns: [idc])[idc]!.values else {
                    throw SegmentError(file: reader.name, kind: .invalidData, message: "row group \(g)'s \(Tables.tickets.idColumn) column is not integers")
                }
                for (i, id) in groupIDs.enumerated() where wanted.contains(id) && seg.isCurrent(row: firstRow + i) {
                    out.append((id, seg.info.id, firstRow + i))
                }
            }
        }
        return out
    }
}

/// A ticket's current cold row: where it is, its values, and the merge state it was
/// compacted with (nil for an imported ticket).
public struct ColdTicketRow: Sendable {
    public let segment: Int64
    public let row: Int
    public let values: [TicketEvent.Value]
    public let mergeState: [UInt8]?
}
