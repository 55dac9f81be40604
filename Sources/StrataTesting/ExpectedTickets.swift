import HotTier
import StrataCore

/// The state every ticket must end in (one JSON object per line, as the generator's expect
/// file and docs/workload.md give it), and the one comparison of read values against it.
public struct ExpectedTickets: Sendable {
    /// Ticket id -> its expected row.
    public let rows: [Int64: JSONValue]

    public init(ndjson: [UInt8]) throws {
        var rows = [Int64: JSONValue]()
        for (n, line) in ndjson.split(separator: 0x0A).enumerated() {
            let v = try JSONParser.parse(Array(line))
            guard case .integer(let id)? = v["id"] else { throw TestingFailure(description: "expect line \(n + 1) has no integer id") }
            rows[id] = v
        }
        self.rows = rows
    }

    public var count: Int { rows.count }
    public var ids: [Int64] { rows.keys.sorted() }
    public subscript(id: Int64) -> JSONValue? { rows[id] }

    /// The expected value of one column, as the hot tier and queries hold it (timestamps as
    /// milliseconds).
    public func value(_ id: Int64, _ column: Int) -> TicketEvent.Value {
        let def = Tables.tickets.columns[column]
        switch rows[id]?[def.name] {
        case .integer(let n)?: return .integer(n)
        case .string(let s)?: return def.type == .timestamp ? Timestamp.parse(s).map { .integer($0) } ?? .string(s) : .string(s)
        default: return .null
        }
    }

    /// Every difference between ticket `id`'s values (one per column of `Tables.tickets`,
    /// nil read as null) and its expected row, named by column; `source` says where the
    /// values came from.
    public func mismatches(_ id: Int64, _ values: [TicketEvent.Value?], source: String = "") -> [String] {
        let label = source.isEmpty ? "ticket \(id)" : "ticket \(id) (\(source))"
        guard rows[id] != nil else { return ["\(label) is not expected"] }
        guard values.count == Tables.tickets.columns.count else { return ["\(label) has \(values.count) values, not \(Tables.tickets.columns.count)"] }
        var out = [String]()
        for (c, def) in Tables.tickets.columns.enumerated() {
            let want = value(id, c), have = values[c] ?? .null
            if have != want { out.append("\(label) \(def.name): \(have) != expected \(want)") }
        }
        return out
    }

    /// Field-by-field differences between the hot tier and the expected rows, every
    /// expected ticket read (in chunks of 2,000).
    public func hotMismatches(_ hot: HotTier) async throws -> [String] {
        let ids = self.ids
        var problems = [String]()
        for start in stride(from: 0, to: ids.count, by: 2000) {
            let chunk = Array(ids[start..<min(start + 2000, ids.count)])
            for (id, t) in zip(chunk, try await hot.tickets(chunk)) {
                guard let t else { problems.append("ticket \(id) missing"); continue }
                problems += mismatches(id, t.values)
            }
        }
        return problems
    }
}
