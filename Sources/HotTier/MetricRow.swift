import StrataCore

/// One `ticket_metrics` row, parsed from a counter field (`created:<channel>:<priority>:<queue>`,
/// `status:<before|none>:<after>`, `first_response`, `solved`, `reopened`, `csat:<score>`).
public struct MetricRow: Sendable {
    /// The catalog's kind of a rollup run, and the steps in which its hours are in moving
    /// keys and not yet registered (a query reads them there).
    public static let rollupRunKind = "rollup"
    public static let movingSteps: Set<String> = ["started", "selected", "written"]

    public struct Key: Hashable, Sendable {
        public var hour: Int64
        public var field: String
        public init(hour: Int64, field: String) { self.hour = hour; self.field = field }
    }
    public var bucket: Int64
    public var metric: String
    public var channel: String?, priority: String?, queue: String?
    public var statusBefore: String?, statusAfter: String?
    public var satisfaction: Int64?
    public var value: Int64

    public init(key: Key, value: Int64) throws {
        bucket = key.hour * 3_600_000
        self.value = value
        let parts = key.field.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        metric = parts[0]
        func known(_ v: String, _ set: [String]) -> String? { set.contains(v) ? v : nil }
        switch (metric, parts.count) {
        case ("created", 4):
            channel = known(parts[1], Tables.ticketChannels)
            priority = known(parts[2], Tables.ticketPriorities)
            queue = parts[3] == "false" ? nil : parts[3]
        case ("status", 3):
            statusBefore = known(parts[1], Tables.ticketStatuses)
            statusAfter = known(parts[2], Tables.ticketStatuses)
        case ("csat", 2):
            satisfaction = Int64(parts[1]).flatMap { (1...5).contains($0) ? $0 : nil }
        case ("first_response", 1), ("solved", 1), ("reopened", 1):
            break
        default:
            throw CorruptHotData("unknown hot-tier counter '\(key.field)' in hour \(key.hour)")
        }
    }

    /// Rows as the `ticket_metrics` columns.
    public static func columns(_ rows: [MetricRow]) -> [ColumnVector] {
        var cols = Tables.ticketMetrics.columns.map { ColumnVector.empty(for: $0.type) }
        func str(_ c: Int, _ v: String?) { if let v { cols[c].appendString(Array(v.utf8)) } else { cols[c].appendNull() } }
        for r in rows {
            cols[0].appendInteger(r.bucket)
            str(1, r.metric)
            str(2, r.channel); str(3, r.priority); str(4, r.queue); str(5, r.statusBefore); str(6, r.statusAfter)
            if let s = r.satisfaction { cols[7].appendInteger(s) } else { cols[7].appendNull() }
            cols[8].appendInteger(r.value)
        }
        return cols
    }
}
