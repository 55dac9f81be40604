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
    /// Called after each step the run reaches (tests crash there).
    public var afterStep: AfterStep? = nil

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
                // A read that failed is not a damaged file: say which it is.
                if problem.kind == .io { throw problem }
                throw CompactionError.corrupt("refusing to merge \(s.file): it is damaged (\(problem)); run `strata verify`")
            }
        }
        var saga = RunSaga(kind: .merge)
        var executor = MergeRun(catalog: catalog, cold: cold, nowMs: nowMs, table: table, inputs: small, maxRows: policy.maxRows)
        executor.beforeRegistering = beforeRegistering
        try saga.drive(&executor, afterStep: afterStep)
        report.droppedRows = executor.droppedRows
        if let skipped = executor.skipped {
            report.skipped = skipped
            return report
        }
        report.merged = small.map(\.file)
        report.written = executor.staged.map(\.finalPath)
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

/// The executor of a merge run (`RunSaga`, kind `merge`):
///
/// - select: start the run, read the inputs' current rows (minus superseded ones) in id
///   order, and record the names of the files the merge will write;
/// - write: write and publish them;
/// - register: the new segments live and the inputs retired, one transaction, only if no
///   input had rows superseded since it was read (else the run gives up: files removed,
///   aborted; the next merge reads the new deletion vectors);
/// - finish, or undo: remove the files, abort (the inputs stay live).
struct MergeRun: RunExecutor {
    let catalog: Catalog
    let cold: ColdDirectory
    let nowMs: Int64
    let table: TableSchema
    let inputs: [Catalog.Segment]
    let maxRows: Int
    let resuming: Bool
    private(set) var run: Int64 = 0
    var beforeRegistering: (() throws -> Void)? = nil
    private(set) var columns: [ColumnVector] = []
    private(set) var deletedSeen = [Int64: Int]()
    private(set) var droppedRows = 0
    private(set) var files: [String] = []
    private(set) var staged: [StagedSegment] = []
    private(set) var skipped: String? = nil

    init(catalog: Catalog, cold: ColdDirectory, nowMs: Int64, table: TableSchema, inputs: [Catalog.Segment], maxRows: Int) {
        self.catalog = catalog
        self.cold = cold
        self.nowMs = nowMs
        self.table = Tables.stored(table)
        self.inputs = inputs
        self.maxRows = maxRows
        resuming = false
    }

    init(catalog: Catalog, cold: ColdDirectory, nowMs: Int64, resuming run: Int64) {
        self.catalog = catalog
        self.cold = cold
        self.nowMs = nowMs
        self.run = run
        table = Tables.tickets
        inputs = []
        maxRows = 0
        resuming = true
    }

    mutating func perform(_ action: RunAction) throws -> Bool {
        switch action {
        case .select: try select()
        case .write:
            let dir = try cold.prepare(table: table.name)
            let total = columns.first?.count ?? 0
            for (k, file) in files.enumerated() {
                let start = k * maxRows, n = min(maxRows, total - start)
                let name = String(file[file.index(after: file.lastIndex(of: "/")!)...])
                var w = try SegmentFileWriter(directory: dir, fileName: name, schema: table, createdAtMs: nowMs)
                try w.append(columns.map { $0.slice(start, n) })
                staged.append(try w.stage())
            }
            for s in staged { try s.publish() }
            try catalog.setStep(run: run, RunStep.written.rawValue)
        case .register:
            try beforeRegistering?()
            do {
                _ = try catalog.replace(run: run, old: inputs.map(\.id), new: staged.map { Catalog.Segment(staged: $0, table: table, cold: cold, nowMs: nowMs) },
                                        deleted: deletedSeen)
            } catch let changed as SegmentsChangedDuringMerge {
                // Rows superseded meanwhile (by a runner that took over and migrated): they
                // would come back. Give up this merge; the next one merges the segments with
                // their new deletion vectors.
                for s in staged { unlink(s.finalPath) }
                try catalog.finishRun(run: run, state: "aborted", now: nowMs, detail: "\(changed); merged next time")
                skipped = "\(changed); merged next time"
                return false
            }
        case .deleteMoved:
            preconditionFailure("a merge run holds nothing in Redis (RunSaga never asks this of one)")
        case .finish:
            try catalog.finishRun(run: run, state: "done", now: nowMs, detail: resuming ? "finished by recovery" : "")
        case .undo:
            for f in try catalog.runFiles(run) {
                let path = cold.absolutePath(f)
                unlink(path)
                unlink(path + ColdDirectory.temporarySuffix)
            }
            try catalog.finishRun(run: run, state: "aborted", now: nowMs, detail: "crashed before registering; its files were removed")
        }
        return true
    }

    mutating func select() throws {
        run = try catalog.startRun(kind: RunKind.merge.rawValue, now: nowMs)
        // Hidden columns (a ticket's merge state) travel with their rows.
        columns = table.columns.map { ColumnVector.empty(for: $0.type) }
        for s in inputs {
            let reader = try openSegment(cold.absolutePath(s.file))
            let deleted = try catalog.deletionVector(segment: s.id)
            deletedSeen[s.id] = deleted.count
            var row = 0
            for g in reader.footer.rowGroups.indices {
                let cols = try reader.readRowGroup(g, table: table, columns: table.columns.map(\.name))
                let n = reader.footer.rowGroups[g].rowCount
                var keep = [Int]()
                for i in 0..<n {
                    if deleted.contains(row + i) { droppedRows += 1 } else { keep.append(i) }
                }
                row += n
                for c in columns.indices { columns[c].append(contentsOf: SegmentMerger.gather(cols[c], keep)) }
            }
        }
        let order = SegmentMerger.sortOrder(columns, table: table)
        columns = columns.map { SegmentMerger.gather($0, order) }
        let total = columns.first?.count ?? 0
        let dir = try cold.prepare(table: table.name)
        files = (0..<max(1, (total + maxRows - 1) / maxRows)).map { _ in
            cold.relativePath(dir + "/" + ColdDirectory.newSegmentName(table: table.name, nowMs: nowMs))
        }
        try catalog.recordSelection(run: run, items: [], logEntries: [], files: files)
    }
}
