import StrataCore

/// Writes an answer piece by piece, for streaming: the header once the columns are known,
/// then chunks of rows, then the end. The formats of `POST /v1/query`: CSV, NDJSON, the JSON
/// document (`{"columns": […], "rows": […]}`) and Markdown. `ResultFormat.render` and
/// `jsonDocument` are the same writer run over a whole result.
public struct ResultWriter: Sendable {
    public enum Format: Sendable { case csv, ndjson, jsonDocument, markdown }

    public let format: Format
    public let columns: [(name: String, type: SQLType)]
    public let zone: TimeZoneRule
    var rowsWritten = 0

    public init(_ format: Format, columns: [(name: String, type: SQLType)], zone: TimeZoneRule) {
        self.format = format
        self.columns = columns
        self.zone = zone
    }

    public func header() -> String {
        switch format {
        case .csv: return columns.map { Self.csvField($0.name) }.joined(separator: ",") + "\r\n"
        case .ndjson: return ""
        case .jsonDocument:
            let cols = columns.map { #"{"name":\#(jsonString($0.name)),"type":"\#($0.type.sqlName)"}"# }.joined(separator: ",")
            return #"{"columns":[\#(cols)],"rows":["#
        case .markdown:
            func esc(_ s: String) -> String { Self.markdownCell(s) }
            return "| " + columns.map { esc($0.name) }.joined(separator: " | ") + " |\n|"
                + columns.map { $0.type.isNumeric ? "---:" : "---" }.joined(separator: "|") + "|\n"
        }
    }

    public mutating func rows(_ rows: ArraySlice<[Value]>) -> String {
        var out = ""
        func cell(_ v: Value, _ c: Int) -> String { v.isNull ? "" : Formatter.text(v, columns[c].type, zone: zone) }
        for row in rows {
            switch format {
            case .csv:
                out += row.enumerated().map { Self.csvField(cell($1, $0)) }.joined(separator: ",") + "\r\n"
            case .ndjson:
                out += "{" + row.enumerated().map { c, v in jsonString(columns[c].name) + ":" + ResultFormat.json.json(v, columns[c].type, zone: zone) }.joined(separator: ",") + "}\n"
            case .jsonDocument:
                out += (rowsWritten == 0 ? "" : ",\n") + "[" + row.enumerated().map { c, v in ResultFormat.json.json(v, columns[c].type, zone: zone) }.joined(separator: ",") + "]"
            case .markdown:
                // A line break inside a value would end the table row (B22): written as <br>.
                out += "| " + row.enumerated().map { Self.markdownCell(cell($1, $0)) }.joined(separator: " | ") + " |\n"
            }
            rowsWritten += 1
        }
        return out
    }

    /// A Markdown table cell: `|` escaped, line breaks as `<br>`, so one value stays one cell.
    static func markdownCell(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "|": out += "\\|"
            case "\r\n", "\n", "\r": out += "<br>"
            default: out.append(c)
            }
        }
        return out
    }

    /// The end of the answer; an error that stopped it half-way is written where the format
    /// has room for it (a last NDJSON line, an "error" member of the JSON document). CSV and
    /// Markdown have none: the server then breaks the connection so that the reader sees
    /// an incomplete answer, never a short one that looks whole.
    public func footer(error: QueryError? = nil) -> String {
        let e = error.map { #"{"code":"\#($0.kind.rawValue)","message":\#(jsonString($0.message))}"# }
        switch format {
        case .csv, .markdown: return ""
        case .ndjson: return e.map { #"{"error":\#($0)}"# + "\n" } ?? ""
        case .jsonDocument: return "]" + (e.map { #","error":\#($0)"# } ?? "") + "}\n"
        }
    }

    /// Whether an error after the header can be told in the body.
    public var canReportErrors: Bool { format == .ndjson || format == .jsonDocument }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingAll("\"", "\"\"") + "\"" : s
    }

    /// A whole result in one string.
    public static func whole(_ format: Format, _ r: QueryResult) -> String {
        var w = ResultWriter(format, columns: r.columns, zone: r.timeZone)
        return w.header() + w.rows(r.rows[...]) + w.footer()
    }
}
