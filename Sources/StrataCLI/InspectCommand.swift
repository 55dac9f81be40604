import ArgumentParser
import ColdStore
import SegmentFormat
import StrataCore

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a segment file's layout: row groups, per-column encodings, sizes and statistics."
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Also list every block of every row group.")
    var blocks = false

    @Argument(help: "The segment file.")
    var file: String

    func run() throws {
        let reader: SegmentReader<FileSource>
        do { reader = try openSegment(file) } catch {
            printErr("\(error)")
            throw ExitCode(1)
        }
        print(SegmentReport.render(reader.footer, file: file, fileSize: reader.source.size, blocks: blocks))
    }
}

enum SegmentReport {
    static func render(_ f: SegmentFooter, file: String, fileSize: Int, blocks: Bool) -> String {
        var out = [String]()
        let rows = f.rowCount
        out.append("segment    \(file)")
        out.append("table      \(f.table)")
        out.append("format     version \(SegmentLayout.formatVersion), \(fileSize) bytes, \(String(format2: Double(fileSize) / Double(max(rows, 1)))) bytes/row")
        out.append("rows       \(rows) in \(f.rowGroups.count) row group(s) of up to \(f.rowGroupSize)")
        out.append("written    \(Timestamp.format(f.createdAtMs)) by \(f.createdBy)")
        out.append("")
        var tableRows = [[String]]()
        for (c, col) in f.columns.enumerated() {
            var stored = 0, raw = 0, nulls = 0
            var encodings = [String: Int]()
            var lz4 = 0
            var lo: StatValue? = nil, hi: StatValue? = nil
            for g in f.rowGroups {
                let m = g.chunks[c]
                stored += Int(m.storedLength)
                raw += Int(m.rawLength)
                nulls += m.nullCount
                let name = m.encoding == .referenceDelta ? "REF_DELTA(\(f.columns[m.referenceColumn!].name))" : m.encoding.description
                encodings[name, default: 0] += 1
                if m.compression == .lz4Block { lz4 += 1 }
                lo = minStat(lo, m.min)
                hi = maxStat(hi, m.max)
            }
            let enc = encodings.sorted { $0.value > $1.value }.map { $0.value == f.rowGroups.count ? $0.key : "\($0.key)×\($0.value)" }
                .joined(separator: ",") + (lz4 > 0 ? "+LZ4" + (lz4 == f.rowGroups.count ? "" : "×\(lz4)") : "")
            tableRows.append([col.name, col.type.isInteger ? col.type.description : (col.type == .string ? "string" : "enum"),
                              enc, "\(stored)", String(format2: Double(stored) / Double(max(rows, 1))),
                              "\(nulls)", format(lo, col.type), format(hi, col.type)])
        }
        out.append(table(["column", "type", "encoding", "bytes", "B/row", "nulls", "min", "max"], tableRows, rightAligned: [3, 4, 5]))
        let ids = f.columns.firstIndex { $0.name == (Tables.named(f.table)?.idColumn ?? "") }
        let time = f.columns.firstIndex { $0.name == (Tables.named(f.table)?.timeColumn ?? "") }
        if let ids, let time {
            out.append("")
            out.append("id range   \(rangeText(f, ids))")
            out.append("time range \(rangeText(f, time)) (\(f.columns[time].name))")
        }
        if blocks {
            out.append("")
            var rowsOut = [[String]]()
            for (g, group) in f.rowGroups.enumerated() {
                for (c, m) in group.chunks.enumerated() {
                    rowsOut.append(["\(g)", f.columns[c].name, "\(m.offset)", "\(m.storedLength)", "\(m.rawLength)",
                                    m.encoding.description, m.compression.description, "\(m.nullCount)",
                                    format(m.min, f.columns[c].type), format(m.max, f.columns[c].type)])
                }
            }
            out.append(table(["group", "column", "offset", "stored", "raw", "encoding", "compression", "nulls", "min", "max"],
                             rowsOut, rightAligned: [0, 2, 3, 4, 7]))
        }
        return out.joined(separator: "\n")
    }

    static func rangeText(_ f: SegmentFooter, _ c: Int) -> String {
        var lo: StatValue? = nil, hi: StatValue? = nil
        for g in f.rowGroups { lo = minStat(lo, g.chunks[c].min); hi = maxStat(hi, g.chunks[c].max) }
        return "\(format(lo, f.columns[c].type)) .. \(format(hi, f.columns[c].type))"
    }

    static func minStat(_ a: StatValue?, _ b: StatValue?) -> StatValue? {
        guard let a else { return b }
        guard let b else { return a }
        switch (a, b) {
        case let (.integer(x), .integer(y)): return .integer(min(x, y))
        case let (.bytes(x), .bytes(y)): return y.lexicographicallyPrecedes(x) ? b : a
        default: return a
        }
    }

    static func maxStat(_ a: StatValue?, _ b: StatValue?) -> StatValue? {
        guard let a else { return b }
        guard let b else { return a }
        switch (a, b) {
        case let (.integer(x), .integer(y)): return .integer(max(x, y))
        case let (.bytes(x), .bytes(y)): return x.lexicographicallyPrecedes(y) ? b : a
        default: return a
        }
    }

    static func format(_ v: StatValue?, _ type: LogicalType) -> String {
        guard let v else { return "-" }
        if case .integer(let i) = v, type == .timestamp { return Timestamp.format(i) }
        let s = v.description
        return s.count > 24 ? String(s.prefix(23)) + "…" : s
    }
}
