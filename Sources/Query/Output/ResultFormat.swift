import StrataCore

/// A query result as text: an aligned table, CSV (RFC 4180, what Excel opens cleanly),
/// JSON (an array of objects), NDJSON, or a Markdown table.
public enum ResultFormat: String, CaseIterable, Sendable {
    case table, csv, json, ndjson, markdown

    public func render(_ r: QueryResult) -> String {
        let names = r.columns.map(\.name)
        switch self {
        case .csv: return ResultWriter.whole(.csv, r)
        case .ndjson: return ResultWriter.whole(.ndjson, r)
        case .json:
            let objects = r.rows.map { row in
                "{" + row.enumerated().map { c, v in jsonString(names[c]) + ":" + json(v, r.columns[c].type, zone: r.timeZone) }.joined(separator: ",") + "}"
            }
            return "[" + objects.joined(separator: ",\n") + "]\n"
        case .markdown: return ResultWriter.whole(.markdown, r)
        case .table:
            let cells = r.rows.map { row in row.enumerated().map { c, v in v.isNull ? "NULL" : Formatter.text(v, r.columns[c].type, zone: r.timeZone) } }
            var widths = names.map(\.count)
            for row in cells { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
            func line(_ row: [String]) -> String {
                row.enumerated().map { i, c in
                    let pad = String(repeating: " ", count: widths[i] - c.count)
                    return r.columns[i].type.isNumeric ? pad + c : c + pad
                }.joined(separator: "  ")
            }
            var out = [line(names), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + cells.map(line)
            out.append("(\(r.rows.count) row\(r.rows.count == 1 ? "" : "s"))")
            return out.joined(separator: "\n") + "\n"
        }
    }

    /// `{"columns": [{"name", "type"}…], "rows": [[…]…]}`: the HTTP API's JSON.
    public static func jsonDocument(_ r: QueryResult) -> String { ResultWriter.whole(.jsonDocument, r) }

    func json(_ v: Value, _ t: SQLType, zone: TimeZoneRule = .utc) -> String {
        switch v {
        case .null: return "null"
        case .string(let s): return jsonString(s)
        case .interval(let x): return jsonString(x.description)
        // JSON has no infinity or NaN; as strings they stay apart from SQL NULL (B10).
        case .double(let d): return d.isFinite ? Formatter.double(d) : jsonString(d.isNaN ? "nan" : (d > 0 ? "inf" : "-inf"))
        case .int(let i):
            switch t {
            case .timestamp, .date: return jsonString(Formatter.text(v, t, zone: zone))
            case .boolean: return i != 0 ? "true" : "false"
            default: return String(i)
            }
        }
    }
}

extension String {
    func replacingAll(_ a: Character, _ b: String) -> String {
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}
