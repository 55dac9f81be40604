import HotTier
import StrataCore

extension TicketEvent {
    /// A row of `strata generate snapshot` (the CSV's header names and text values) as one
    /// create event setting every field, by `writer` at the row's version: how tests and
    /// benchmarks put a snapshot into the hot tier.
    public static func create(snapshotHeader names: [String], values: [String], writer: String = "svc-1") throws -> TicketEvent {
        guard names.count == values.count else { throw EventError(field: nil, "a row of \(values.count) values under \(names.count) column names") }
        var id: Int64 = 0, version: Int64 = 1, at: Int64 = 0
        var fields = [(column: Int, value: Value)]()
        for (name, text) in zip(names, values) {
            guard let c = Tables.tickets.index(of: name) else { throw EventError(field: name, "not a column of tickets") }
            let def = Tables.tickets.columns[c]
            func integer() throws -> Int64 {
                guard let v = def.type == .timestamp ? Timestamp.parse(text) : Int64(text) else { throw EventError(field: name, "'\(text)' is not a \(def.type)") }
                return v
            }
            switch name {
            case "id": id = try integer()
            case "version": version = try integer()
            default:
                if text.isEmpty { fields.append((c, def.nullable ? .null : .string(""))); continue }
                fields.append((c, def.type.isInteger ? .integer(try integer()) : .string(text)))
                if name == "updated_at" { at = try integer() }
            }
        }
        return TicketEvent(op: .create, id: id, writer: writer, vv: [(writer, version)], fields: fields, at: at)
    }
}
