import StrataCore
import SegmentFormat
import ColdStore
import Catalog

/// What an import did.
public struct ImportSummary: Sendable {
    public var files = 0
    public var rows = 0
    public var segments: [String] = []
    public var bytes = 0
}

/// An import that wrote nothing, with every bad row found (up to a limit).
public struct ImportFailed: Error, CustomStringConvertible {
    public let errors: [ImportError]
    public let truncated: Bool
    public var description: String {
        var lines = errors.map(\.description)
        if truncated { lines.append("(more errors not shown; stopped after \(errors.count))") }
        lines.append("nothing was imported")
        return lines.joined(separator: "\n")
    }
}

/// Loads ticket exports (CSV or NDJSON, as `strata generate snapshot` writes them) into
/// the cold tier. All or nothing: every row is checked; segments are written under
/// temporary names and published only when every file parsed cleanly.
public struct TicketImporter {
    public static let maxReportedErrors = 20

    public let cold: ColdDirectory
    /// Where published segments are registered (all of an import in one transaction);
    /// nil for a bare directory of segments (tests, benchmarks).
    public let catalog: Catalog?
    public let schema: TableSchema
    public let segmentRows: Int
    public let rowGroupSize: Int

    public init(cold: ColdDirectory, catalog: Catalog? = nil, schema: TableSchema = Tables.tickets,
                segmentRows: Int = 16 * 65_536, rowGroupSize: Int = 65_536) {
        precondition(segmentRows >= rowGroupSize && rowGroupSize > 0)
        self.cold = cold
        self.catalog = catalog
        self.schema = schema
        self.segmentRows = segmentRows
        self.rowGroupSize = rowGroupSize
    }

    public func run(files: [String], progress: ((Int) -> Void)? = nil) throws -> ImportSummary {
        let directory = try cold.prepare(table: schema.name)
        try cold.sweepTemporaryFiles()
        var state = ImportState(importer: self, directory: directory, progress: progress)
        do {
            for path in files { try state.load(path) }
            try state.closeSegment()
        } catch {
            state.abandon()
            throw error
        }
        if !state.errors.isEmpty {
            state.abandon()
            throw ImportFailed(errors: state.errors, truncated: state.errorsTruncated)
        }
        var summary = ImportSummary(files: files.count, rows: state.rows)
        do {
            for s in state.staged {
                try s.publish()
                summary.segments.append(s.finalPath)
                summary.bytes += s.bytes
            }
        } catch {
            // A file that could not be renamed: nothing else is published after it.
            for s in state.staged where !summary.segments.contains(s.finalPath) { s.discard() }
            throw error
        }
        // One transaction makes every segment of the import visible at once. A crash
        // before it leaves published files the catalog does not know: orphans, which
        // readers ignore and the compactor's recovery removes.
        if let catalog {
            let now = ColdDirectory.nowMs()
            try catalog.register(state.staged.map { s in
                Catalog.Segment(id: 0, table: schema.name, file: cold.relativePath(s.finalPath), rows: Int64(s.rows),
                                bytes: Int64(s.bytes), minID: s.footer.integerRange(of: schema.idColumn)?.lowerBound,
                                maxID: s.footer.integerRange(of: schema.idColumn)?.upperBound,
                                minTime: s.footer.integerRange(of: schema.timeColumn)?.lowerBound,
                                maxTime: s.footer.integerRange(of: schema.timeColumn)?.upperBound, state: "live", createdAt: now)
            })
        }
        return summary
    }
}

/// The moving parts of one import run.
struct ImportState {
    let importer: TicketImporter
    let directory: String
    let progress: ((Int) -> Void)?
    var batch: RowBatch
    var writer: SegmentFileWriter?
    var staged: [StagedSegment] = []
    var errors: [ImportError] = []
    var errorsTruncated = false
    var rows = 0
    var seenIDs = Set<Int64>()
    let idColumn: Int

    init(importer: TicketImporter, directory: String, progress: ((Int) -> Void)?) {
        self.importer = importer
        self.directory = directory
        self.progress = progress
        batch = RowBatch(schema: importer.schema, capacity: importer.rowGroupSize)
        idColumn = importer.schema.idColumnIndex
    }

    mutating func load(_ path: String) throws {
        var input = try InputFile(path: path)
        defer { input.close() }
        let first = try FileSource(path: path)
        let head = try first.read(offset: 0, count: min(first.size, 64))
        switch InputFile.detectFormat(path: path, firstBytes: head) {
        case .csv: try loadCSV(&input)
        case .ndjson: try loadNDJSON(&input)
        }
    }

    mutating func report(_ e: ImportError) throws {
        if errors.count >= TicketImporter.maxReportedErrors {
            errorsTruncated = true
            throw ImportFailed(errors: errors, truncated: true)
        }
        errors.append(e)
    }

    mutating func loadCSV(_ input: inout InputFile) throws {
        let schema = importer.schema
        let path = input.path
        var scratch = [UInt8]()
        var fields = [Range<Int>]()
        // The header names the columns.
        var mapping = [Int]()
        let header: Void? = try input.nextRecord(csv: true) { rec, line in
            do { try CSVParser.fields(of: rec, scratch: &scratch, fields: &fields) } catch { throw recordError(error).at(path, line) }
            for (k, r) in fields.enumerated() {
                let name = String(decoding: scratch[r], as: UTF8.self).trimmingSpaces()
                guard let c = schema.index(of: name) else {
                    throw ImportError(file: path, line: line, column: nil,
                                      message: "unknown column \"\(name)\" in the header; \(schema.name) has \(schema.columns.map(\.name).joined(separator: ", "))")
                }
                guard !mapping.contains(c) else {
                    throw ImportError(file: path, line: line, column: nil, message: "column \"\(name)\" appears twice in the header (field \(k + 1))")
                }
                mapping.append(c)
            }
            for (c, def) in schema.columns.enumerated() where !mapping.contains(c) && !def.nullable {
                throw ImportError(file: path, line: line, column: nil, message: "the header lacks column \"\(def.name)\", which is required")
            }
        }
        guard header != nil else {
            throw ImportError(file: path, line: 1, column: nil, message: "the file is empty: a CSV header line is expected")
        }
        let missing = schema.columns.indices.filter { !mapping.contains($0) }
        while let r = try input.nextRecord(csv: true, { rec, line -> ImportError? in
            do { try CSVParser.fields(of: rec, scratch: &scratch, fields: &fields) } catch { return recordError(error).at(path, line) }
            guard fields.count == mapping.count else {
                return ImportError(file: path, line: line, column: nil, message: "expected \(mapping.count) fields, found \(fields.count)")
            }
            let before = batch.count
            for (k, r) in fields.enumerated() {
                let c = mapping[k]
                var failure: RecordError?
                scratch.withUnsafeBytes { b in
                    do { try batch.appendText(UnsafeRawBufferPointer(rebasing: b[r]), column: c) } catch { failure = recordError(error) }
                }
                if let failure {
                    batch.truncate(to: before)
                    return failure.at(path, line, column: schema.columns[c].name)
                }
            }
            for c in missing { batch.columns[c].count == before ? try? batch.appendNull(column: c) : () }
            return nil
        }) {
            if let e = r { try report(e) } else { try rowDone(path, input.nextLine) }
        }
    }

    mutating func loadNDJSON(_ input: inout InputFile) throws {
        let schema = importer.schema
        let path = input.path
        var seen = [Bool](repeating: false, count: schema.columns.count)
        while let r = try input.nextRecord(csv: false, { rec, line -> ImportError? in
            let value: JSONValue
            do { value = try JSONParser.parse(rec) } catch {
                return ImportError(file: path, line: line, column: nil, message: "invalid JSON: \(error)")
            }
            guard case .object(let members) = value else {
                return ImportError(file: path, line: line, column: nil, message: "expected a JSON object, got \(value.typeName)")
            }
            let before = batch.count
            for i in seen.indices { seen[i] = false }
            for (key, v) in members {
                guard let c = schema.index(of: key) else {
                    batch.truncate(to: before)
                    return ImportError(file: path, line: line, column: key, message: "unknown column")
                }
                seen[c] = true
                do {
                    try append(v, column: c)
                } catch {
                    batch.truncate(to: before)
                    return recordError(error).at(path, line, column: key)
                }
            }
            for c in seen.indices where !seen[c] {
                do { try batch.appendNull(column: c) } catch {
                    batch.truncate(to: before)
                    return ImportError(file: path, line: line, column: schema.columns[c].name, message: "missing (the column is not nullable)")
                }
            }
            return nil
        }) {
            if let e = r { try report(e) } else { try rowDone(path, input.nextLine) }
        }
    }

    mutating func append(_ v: JSONValue, column c: Int) throws(RecordError) {
        let def = importer.schema.columns[c]
        switch v {
        case .null: try batch.appendNull(column: c)
        case .integer(let i):
            guard def.type.isInteger else { throw RecordError(field: nil, message: "expected \(def.type), got a JSON integer") }
            guard def.type != .timestamp else { throw RecordError(field: nil, message: "expected an RFC 3339 timestamp string, got an integer") }
            try batch.appendInteger(i, column: c)
        case .string(let s):
            var s = s
            if def.type == .timestamp {
                guard let ms = Timestamp.parse(s) else { throw RecordError(field: nil, message: "invalid timestamp \"\(s)\"") }
                try batch.appendInteger(ms, column: c)
            } else {
                var failure: RecordError?
                s.withUTF8 { b in
                    do { try batch.appendString(UnsafeRawBufferPointer(b), column: c) } catch { failure = recordError(error) }
                }
                if let failure { throw failure }
            }
        default:
            throw RecordError(field: nil, message: "expected \(def.type), got a JSON \(v.typeName)")
        }
    }

    /// A row was appended: check its id is new, and flush full row groups.
    mutating func rowDone(_ path: String, _ nextLine: Int) throws {
        let n = batch.count
        if case .integers(let ids) = batch.columns[idColumn].values, let id = ids.last {
            if !seenIDs.insert(id).inserted {
                batch.truncate(to: n - 1)
                try report(ImportError(file: path, line: nextLine - 1, column: importer.schema.idColumn,
                                       message: "duplicate id \(id) (already seen in this import)"))
                return
            }
        }
        rows += 1
        if batch.count == importer.rowGroupSize { try flushBatch() }
        if rows % 100_000 == 0 { progress?(rows) }
    }

    mutating func flushBatch() throws {
        guard batch.count > 0, errors.isEmpty else {
            // After the first bad row nothing will be published: keep checking, stop writing.
            _ = batch.take()
            return
        }
        if writer == nil {
            writer = try SegmentFileWriter(directory: directory,
                                           fileName: ColdDirectory.newSegmentName(table: importer.schema.name, nowMs: ColdDirectory.nowMs()),
                                           schema: importer.schema, rowGroupSize: importer.rowGroupSize,
                                           createdAtMs: ColdDirectory.nowMs())
        }
        try writer!.append(batch.take())
        if writer!.rowCount >= importer.segmentRows { try closeSegment() }
    }

    mutating func closeSegment() throws {
        try flushBatch()
        guard var w = writer else { return }
        writer = nil
        do { staged.append(try w.stage()) } catch {
            w.abort()
            throw error
        }
    }

    mutating func abandon() {
        writer?.abort()
        writer = nil
        for s in staged { s.discard() }
        staged = []
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\u{FEFF}" { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}

func recordError(_ e: any Error) -> RecordError {
    e as? RecordError ?? RecordError(field: nil, message: "\(e)")
}
