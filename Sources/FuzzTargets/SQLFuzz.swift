import Query
import StrataCore
import SystemSupport

/// SQL as `POST /v1/query` takes it, over a small table of edge values held in memory: the
/// query answers, or fails with a `QueryError` whose offset lies in the text. It runs on a
/// 4 MiB stack (less than a daemon's query thread), under a 2 s timeout, on one thread and
/// again on two: the answers must be the same rows (as multisets; without LIMIT or OFFSET,
/// which may pick other rows among ties).
final class SQLFuzz: @unchecked Sendable {
    static let shared = SQLFuzz()
    let one: QueryEngine
    let two: QueryEngine

    init() {
        var e = QueryEngine(source: MemoryTickets(rows: EdgeTickets.rows))
        e.timeoutSeconds = 2
        one = e
        e.threads = 2
        two = e
    }

    func run(_ bytes: [UInt8]) -> String? {
        let sql = String(decoding: bytes, as: UTF8.self)
        nonisolated(unsafe) var verdict: String?
        nonisolated(unsafe) let (one, two) = (one, two)
        OSThread.run(stackBytes: 4 << 20) {
            let a = one.result(sql)
            switch a {
            case .failure(let e):
                if e.message.isEmpty { verdict = "an error without a message"; return }
                if let o = e.offset, o < 0 || o > sql.utf8.count { verdict = "error offset \(o) outside the \(sql.utf8.count)-byte text: \(e.message)"; return }
                if case .success = two.result(sql), e.kind != .execution && e.kind != .limit { verdict = "fails on one thread (\(e.message)) but answers on two" }
            case .success(let r1):
                for format in [ResultWriter.Format.jsonDocument, .ndjson, .csv, .markdown] {
                    var w = ResultWriter(format, columns: r1.columns, zone: .utc)
                    let text = w.header() + w.rows(r1.rows[...]) + w.footer()
                    if format == .jsonDocument, (try? JSONParser.parse(Array(text.utf8))) == nil { verdict = "the JSON answer does not parse: \(text.prefix(300))"; return }
                }
                guard case .success(let r2) = two.result(sql) else { verdict = "answers on one thread but fails on two"; return }
                // As multisets: ORDER BY leaves ties in any order (the order itself is checked
                // against DuckDB by the SQL tests).
                if !Self.sameAnswer(r1, r2, ordered: false) {
                    let limited = sql.uppercased().contains("LIMIT") || sql.uppercased().contains("OFFSET")
                    if !limited { verdict = "one thread and two answer differently: \(r1.rows.prefix(3)) against \(r2.rows.prefix(3))" }
                }
            }
        }
        return verdict
    }

    /// The same rows, each value equal (doubles within 1e-9 relative: sums in another order).
    static func sameAnswer(_ a: QueryResult, _ b: QueryResult, ordered: Bool) -> Bool {
        guard a.columns.map(\.type) == b.columns.map(\.type), a.rows.count == b.rows.count else { return false }
        // Rows sorted by their values but doubles, then by their doubles: two threads may sum
        // doubles in another order (compared below within a tolerance), and rows that tie on
        // everything else (a GROUP BY of a double, `count(*)` 1 in each) must still pair up
        // with their own. (Sorting on the other values alone paired such rows at random: a
        // false "one thread and two answer differently".)
        func key(_ row: [Value]) -> String { row.map { v in if case .double = v { return "d" } else { return "\(v)" } }.joined(separator: "\u{1}") }
        func doubles(_ row: [Value]) -> [Double] { row.compactMap { v in if case .double(let d) = v { return d.isNaN ? .infinity : d } else { return nil } } }
        func before(_ r: [Value], _ s: [Value]) -> Bool {
            let (kr, ks) = (key(r), key(s))
            if kr != ks { return kr < ks }
            return doubles(r).lexicographicallyPrecedes(doubles(s))
        }
        let (x, y) = ordered ? (a.rows, b.rows) : (a.rows.sorted(by: before), b.rows.sorted(by: before))
        for (r, s) in zip(x, y) {
            guard r.count == s.count else { return false }
            for (u, v) in zip(r, s) {
                switch (u, v) {
                case (.double(let p), .double(let q)):
                    if p.isNaN && q.isNaN { continue }
                    if p == q { continue }
                    if abs(p - q) > 1e-9 * max(abs(p), abs(q)) { return false }
                default: if "\(u)" != "\(v)" { return false }
                }
            }
        }
        return true
    }
}
