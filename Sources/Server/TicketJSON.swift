import HotTier
import StrataCore

/// `GET /v1/tickets/{id}`'s body: the ticket in the shape of `strata generate`'s rows (docs/api.md).
extension HotTicket {
    /// The ticket as JSON: its columns, `"vv"` when `withVector`, and `"tier":"cold"` when
    /// `cold` (answered from a segment).
    func json(withVector: Bool = true, cold: Bool = false) -> String {
        var parts = [String]()
        for (i, def) in Tables.tickets.columns.enumerated() {
            let text: String
            switch values[i] {
            case nil, .null?: text = "null"
            case .integer(let n)?: text = def.type == .timestamp ? "\"\(Timestamp.format(n))\"" : String(n)
            case .string(let s)?: text = jsonString(s)
            }
            parts.append("\"\(def.name)\":\(text)")
        }
        if withVector { parts.append("\"vv\":{" + vv.map { "\(jsonString($0.writer)):\($0.count)" }.joined(separator: ",") + "}") }
        if cold { parts.append("\"tier\":\"cold\"") }
        return "{" + parts.joined(separator: ",") + "}"
    }
}
