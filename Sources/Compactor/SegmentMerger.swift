#if canImport(Glibc)
import Glibc
#endif
import Catalog
import ColdStore
import SegmentFormat
import StrataCore

/// Size-tiered merging: small live segments of a table are rewritten into fewer, larger
/// ones, dropping superseded rows, so that a day of compaction runs ends in a few segments
/// of bounded size. A damaged segment is never merged (its damage would spread into a
/// fresh, valid-looking file): the merge of its tier is refused with the file named.
public struct SegmentMerger {
    public struct Policy: Sendable {
        /// Segments at most this big take part.
        public var smallBytes = 64 << 20
        /// Merge when at least this many small segments exist.
        public var minSegments = 4
        /// Rows per merged segment at most.
        public var maxRows = 4 * 1_048_576
        public init() {}
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var merged: [String] = []
        public var written: [String] = []
        public var droppedRows = 0
        public var removedRetired = 0
        /// Why a merge that was written was not registered (rows superseded meanwhile).
        public var skipped: String? = nil
        public var description: String {
            if let skipped { return "merge: not registered, \(skipped)" }
            return merged.isEmpty ? "merge: nothing to merge (removed \(removedRetired) retired file(s))"
                : "merge: \(merged.count) segments into \(written.count), \(droppedRows) superseded rows dropped, \(removedRetired) retired file(s) removed"
        }
    }

    public let catalog: Catalog
    public let cold: ColdDirectory
    public let policy: Policy
    /// Tests: runs just before the merged segments are registered.
    var beforeRegistering: (() throws -> Void)? = nil

    public init(catalog: Catalog, cold: ColdDirectory, policy: Policy = Policy()) {
        self.catalog = catalog
        self.cold = cold
        self.policy = policy
    }

    /// Removes files of segments retired by an earlier run (readers of that time are done).
    public func removeRetiredFiles() throws -> Int {
        var n = 0
        for s in try catalog.retiredSegments() {
            let path = cold.absolutePath(s.file)
            if access(path, F_OK) == 0 { unlink(path); n += 1 }
        }
        return n
    }

    public func run(table: TableSchema, nowMs: Int64) throws -> Report {
        var report = Report()
        report.removedRetired = try removeRetiredFiles()
        let small = try catalog.liveSegments(table: table.name).filter { $0.bytes <= Int64(policy.smallBytes) }
        guard small.count >= policy.minSegments else { return report }
        // Never spread damage: every input is verified, block by block, first.
        for s in small {
            let reader = try openSegment(cold.absolutePath(s.file))
            if let problem = reader.verify().first {
                throw CompactionError.corrupt("refusing to merge \(s.file): it is damaged (\(problem)); run `strata verify`")
            }
        }
        let run = try catalog.startRun(kind: "merge", now: nowMs)
        let dir = try cold.prepare(table: table.name)
        // Read the current rows (minus superseded ones) of every input, in id order.
        // Hidden columns (a ticket's merge state) travel with their rows.
        let table = Tables.stored(table)
        var columns = table.columns.map { ColumnVector.empty(for: $0.type) }
        var deletedSeen = [Int64: Int]()
        for s in small {
            let reader = try openSegment(cold.absolutePath(s.file))
            let deleted = try catalog.deletionVector(segment: s.id)
            deletedSeen[s.id] = deleted.count
            var row = 0
            for g in reader.footer.rowGroups.indices {
                let cols = try reader.readRowGroup(g, table: table, columns: table.columns.map(\.name))
                let n = reader.footer.rowGroups[g].rowCount
                var keep = [Int]()
                for i in 0..<n {
                    let r = row + i
                    if deleted.contains(r) { report.droppedRows += 1 } else { keep.append(i) }
                }
                row += n
                for c in columns.indices { columns[c].append(contentsOf: Self.gather(cols[c], keep)) }
            }
        }
        let order = Self.sortOrder(columns, table: table)
        columns = columns.map { Self.gather($0, order) }
        // Write the merged segments.
        var staged = [StagedSegment]()
        let total = columns.first?.count ?? 0
        var start = 0
        repeat {
            let n = min(policy.maxRows, total - start)
            var w = try SegmentFileWriter(directory: dir, fileName: ColdDirectory.newSegmentName(table: table.name, nowMs: nowMs),
                                          schema: table, createdAtMs: nowMs)
            try w.append(columns.map { $0.slice(start, n) })
            staged.append(try w.stage())
            start += n
        } while start < total
        try catalog.recordSelection(run: run, items: [], logEntries: [], files: staged.map { cold.relativePath($0.finalPath) })
        for s in staged { try s.publish() }
        try catalog.setStep(run: run, "written")
        try beforeRegistering?()
        do {
            _ = try catalog.replace(run: run, old: small.map(\.id), new: staged.map { s in
                Catalog.Segment(id: 0, table: table.name, file: cold.relativePath(s.finalPath), rows: Int64(s.rows), bytes: Int64(s.bytes),
                                minID: s.footer.integerRange(of: table.idColumn)?.lowerBound, maxID: s.footer.integerRange(of: table.idColumn)?.upperBound,
                                minTime: s.footer.integerRange(of: table.timeColumn)?.lowerBound, maxTime: s.footer.integerRange(of: table.timeColumn)?.upperBound,
                                state: "live", createdAt: nowMs)
            }, deleted: deletedSeen)
        } catch let changed as SegmentsChangedDuringMerge {
            // A ticket reopened meanwhile: its superseded row would come back. Drop this merge;
            // the next run merges the segments with their new deletion vectors.
            for s in staged { unlink(s.finalPath) }
            try catalog.finishRun(run: run, state: "aborted", now: nowMs, detail: "\(changed); merged next time")
            report.skipped = "\(changed); merged next time"
            return report
        }
        try catalog.finishRun(run: run, state: "done", now: nowMs)
        report.merged = small.map(\.file)
        report.written = staged.map(\.finalPath)
        return report
    }

    static func gather(_ v: ColumnVector, _ rows: [Int]) -> ColumnVector {
        var out = ColumnVector.empty(for: { if case .integers = v.values { return LogicalType.int64 } else { return LogicalType.string } }())
        out.reserveCapacity(rows.count)
        for i in rows {
            if v.isNull(i) { out.appendNull(); continue }
            switch v.values {
            case .integers(let a): out.appendInteger(a[i])
            case .strings(let s): out.appendString(s.bytes(at: i))
            case .dictionary(let codes, let dict): out.appendString(dict.bytes(at: Int(codes[i])))
            }
        }
        return out
    }

    /// Row order of a merged segment: by id, then time (events of a ticket in order).
    static func sortOrder(_ columns: [ColumnVector], table: TableSchema) -> [Int] {
        guard case .integers(let ids) = columns[table.idColumnIndex].values,
              case .integers(let times) = columns[table.timeColumnIndex].values else { return Array(0..<(columns.first?.count ?? 0)) }
        return ids.indices.sorted { ids[$0] != ids[$1] ? ids[$0] < ids[$1] : times[$0] < times[$1] }
    }
}
