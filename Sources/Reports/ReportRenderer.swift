import Query
import StrataCore

/// Renders a report pack: one CSV per figure, and one self-contained HTML page (inline
/// SVG charts, no scripts, nothing fetched from the network).
public enum ReportRenderer {
    public struct Rendered: Sendable {
        public var csv: [(name: String, text: String)] = []
        public var html = ""
    }

    public static func render(_ pack: ReportPack, results: [QueryResult], generatedAt: Int64) -> Rendered {
        precondition(results.count == pack.figures.count)
        var out = Rendered()
        var sections = [String]()
        for (figure, result) in zip(pack.figures, results) {
            out.csv.append((figure.name, ResultFormat.csv.render(result)))
            var s = "<section id=\"\(figure.name)\"><h2>\(escape(figure.title))</h2><p class=\"note\">\(escape(figure.note))</p>"
            switch figure.chart {
            case .lines(let x, let y, let series): s += lineChart(result, x: x, y: y, series: series)
            case .bars(let label, let value): s += barChart(result, label: label, value: value)
            case .columns(let from): s += columnsChart(result, from: from)
            case .table: break
            }
            s += table(result, maxRows: 60)
            s += "<p class=\"files\"><a href=\"\(figure.name).csv\">\(figure.name).csv</a> (\(result.rows.count) rows)</p>"
            s += "<details><summary>SQL</summary><pre>\(escape(figure.sql))</pre></details></section>"
            sections.append(s)
        }
        let window = "\(Formatter.text(.int(pack.from), .timestamp)) to \(Formatter.text(.int(pack.to), .timestamp))"
        out.html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Help-desk report</title>
        <style>
        body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
        h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
        .note{color:#555}table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
        td.n{text-align:right;font-variant-numeric:tabular-nums}pre{background:#f6f6f6;padding:.5em;overflow:auto}
        nav a{margin-right:1em}svg text{font:11px system-ui,sans-serif;fill:#444}
        </style></head><body>
        <h1>Help-desk report</h1>
        <p>Window: \(escape(window)). Generated \(escape(Formatter.text(.int(generatedAt), .timestamp))) by strata report; every figure shows the SQL it came from.</p>
        <nav>\(pack.figures.map { "<a href=\"#\($0.name)\">\(escape($0.title))</a>" }.joined(separator: " "))</nav>
        \(sections.joined(separator: "\n"))
        </body></html>

        """
        return out
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    static func text(_ v: Value, _ t: SQLType, _ zone: TimeZoneRule = .utc) -> String {
        if case .double(let d) = v { return d.isFinite ? String((d * 100).rounded() / 100) : Formatter.double(d) }
        return v.isNull ? "" : Formatter.text(v, t, zone: zone)
    }

    static func number(_ v: Value) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d.isFinite ? d : nil
        default: return nil
        }
    }

    static func table(_ r: QueryResult, maxRows: Int) -> String {
        var s = "<table><tr>" + r.columns.map { "<th>\(escape($0.name))</th>" }.joined() + "</tr>"
        for row in r.rows.prefix(maxRows) {
            s += "<tr>" + row.enumerated().map { c, v in
                "<td\(r.columns[c].type.isNumeric ? " class=\"n\"" : "")>\(escape(text(v, r.columns[c].type, r.timeZone)))</td>"
            }.joined() + "</tr>"
        }
        if r.rows.count > maxRows { s += "<tr><td colspan=\"\(r.columns.count)\">… \(r.rows.count - maxRows) more rows in the CSV</td></tr>" }
        return s + "</table>"
    }

    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"]

    static func barChart(_ r: QueryResult, label: Int, value: Int) -> String {
        let rows = r.rows.prefix(30).compactMap { row -> (String, Double)? in
            guard let v = number(row[value]) else { return nil }
            return (text(row[label], r.columns[label].type, r.timeZone), v)
        }
        guard !rows.isEmpty else { return "" }
        let maxValue = max(rows.map(\.1).max() ?? 1, 1e-9)
        let rowHeight = 18, labelWidth = 130, width = 640
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(rows.count * rowHeight + 8)\" role=\"img\" aria-label=\"\(escape(r.columns[value].name))\">"
        for (i, (name, v)) in rows.enumerated() {
            let w = Int(Double(width - labelWidth - 70) * max(v, 0) / maxValue)
            let y = i * rowHeight + 4
            s += "<text x=\"0\" y=\"\(y + 12)\">\(escape(String(name.prefix(20))))</text>"
            s += "<rect x=\"\(labelWidth)\" y=\"\(y)\" width=\"\(w)\" height=\"\(rowHeight - 4)\" fill=\"\(palette[0])\"/>"
            s += "<text x=\"\(labelWidth + w + 4)\" y=\"\(y + 12)\">\(escape(text(.double(v), .double)))</text>"
        }
        return s + "</svg>"
    }

    /// A one-row result whose columns are the points of a line (backlog over time): turned into
    /// rows (column name, value) and drawn as a line.
    static func columnsChart(_ r: QueryResult, from: Int) -> String {
        guard let row = r.rows.first, r.columns.count > from else { return "" }
        var points = QueryResult(columns: [("point", .varchar), (r.columns.count - from == 1 ? r.columns[from].name : "value", .double)], rows: [])
        for c in from..<r.columns.count { points.rows.append([.string(r.columns[c].name), number(row[c]).map(Value.double) ?? .null]) }
        return lineChart(points, x: 0, y: 1, series: nil)
    }

    static func lineChart(_ r: QueryResult, x: Int, y: Int, series: Int?) -> String {
        var xs = [String](), seen = Set<String>()
        var lines = [String: [String: Double]]()
        var order = [String]()
        for row in r.rows {
            guard let v = number(row[y]) else { continue }
            let xv = text(row[x], r.columns[x].type, r.timeZone)
            if seen.insert(xv).inserted { xs.append(xv) }
            let name = series.map { text(row[$0], r.columns[$0].type, r.timeZone) } ?? r.columns[y].name
            if lines[name] == nil { order.append(name) }
            lines[name, default: [:]][xv] = v
        }
        guard xs.count >= 1 else { return "" }
        let width = 700, height = 240, left = 50, bottom = 30, top = 10
        let maxValue = max(lines.values.flatMap(\.values).max() ?? 1, 1e-9)
        func px(_ i: Int) -> Int { left + (xs.count == 1 ? 0 : i * (width - left - 10) / (xs.count - 1)) }
        func py(_ v: Double) -> Int { top + Int(Double(height - top - bottom) * (1 - v / maxValue)) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height + 20 * ((order.count + 5) / 6))\" role=\"img\" aria-label=\"\(escape(r.columns[y].name))\">"
        s += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - 10)\" y2=\"\(height - bottom)\" stroke=\"#999\"/>"
        s += "<text x=\"0\" y=\"\(top + 10)\">\(escape(text(.double(maxValue), .double)))</text><text x=\"0\" y=\"\(height - bottom)\">0</text>"
        s += "<text x=\"\(left)\" y=\"\(height - 10)\">\(escape(xs.first!))</text>"
        if xs.count > 1 { s += "<text x=\"\(width - 90)\" y=\"\(height - 10)\">\(escape(xs.last!))</text>" }
        for (k, name) in order.enumerated() {
            let points = xs.enumerated().compactMap { i, xv in lines[name]?[xv].map { "\(px(i)),\(py($0))" } }.joined(separator: " ")
            let color = palette[k % palette.count]
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(points)\"/>"
            let lx = 10 + (k % 6) * 115, ly = height + 14 + (k / 6) * 20
            s += "<rect x=\"\(lx)\" y=\"\(ly - 9)\" width=\"10\" height=\"10\" fill=\"\(color)\"/><text x=\"\(lx + 14)\" y=\"\(ly)\">\(escape(String(name.prefix(16))))</text>"
        }
        return s + "</svg>"
    }
}
