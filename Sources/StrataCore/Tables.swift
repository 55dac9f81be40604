/// The tables of Strata, declared once. The write path, the segment format and the
/// query engine all take their columns from here. To add a column: append it to the
/// table below (never insert or reorder), and follow docs/format.md "Versioning".
public enum Tables {
    public static let ticketStatuses = ["new", "open", "pending", "on_hold", "solved", "closed"]
    public static let ticketPriorities = ["low", "normal", "high", "urgent"]
    public static let ticketChannels = ["email", "web", "chat", "phone", "wechat", "api"]
    /// The longest string a column holds, whichever way it comes in (an event, an import).
    public static let maxStringBytes = 64 << 10

    /// Current state of each ticket (one row per ticket), as `strata generate snapshot`
    /// writes it and as the merge rule of docs/workload.md defines it.
    public static let tickets = TableSchema(
        name: "tickets",
        columns: [
            ColumnDef("id", .int64, doc: "assigned by the ticket service, unique"),
            ColumnDef("created_at", .timestamp),
            ColumnDef("updated_at", .timestamp),
            ColumnDef("first_response_at", .timestamp, nullable: true),
            ColumnDef("solved_at", .timestamp, nullable: true, doc: "cleared when a ticket is reopened"),
            ColumnDef("closed_at", .timestamp, nullable: true),
            ColumnDef("status", .enumeration(ticketStatuses)),
            ColumnDef("priority", .enumeration(ticketPriorities)),
            ColumnDef("channel", .enumeration(ticketChannels)),
            ColumnDef("queue", .string),
            ColumnDef("agent_id", .int64, nullable: true, doc: "null until first response"),
            ColumnDef("customer_id", .int64),
            ColumnDef("subject", .string),
            ColumnDef("tags", .string, doc: "0-3 tags, sorted, comma-separated; empty for none"),
            ColumnDef("satisfaction", .int8, nullable: true, doc: "CSAT 1-5"),
            ColumnDef("reopen_count", .int32),
            ColumnDef("version", .int64, doc: "sum of the ticket's version vector"),
        ],
        idColumn: "id",
        timeColumn: "updated_at"
    )

    /// One row per accepted change of a ticket: its history, for the reports that need
    /// more than the last state (first reply time, requester wait time, time in pending).
    public static let ticketEvents = TableSchema(
        name: "ticket_events",
        columns: [
            ColumnDef("id", .int64, doc: "the ticket's id"),
            ColumnDef("at", .timestamp, doc: "the event's updated_at"),
            ColumnDef("writer", .string),
            ColumnDef("lamport", .int64, doc: "sum of the event's version vector"),
            ColumnDef("fields", .string, doc: "changed field names, sorted, comma-separated"),
            ColumnDef("status_before", .enumeration(ticketStatuses), nullable: true),
            ColumnDef("status_after", .enumeration(ticketStatuses), nullable: true),
            ColumnDef("agent_before", .int64, nullable: true),
            ColumnDef("agent_after", .int64, nullable: true),
        ],
        idColumn: "id",
        timeColumn: "at"
    )

    /// The `tickets` columns as a segment stores them: the table's columns plus the merge
    /// state of each ticket (`_merge_state`: per-field stamps, the version vector and the
    /// seen dots, as the hot tier held them, with the values blanked). A ticket that comes
    /// back from the cold tier is restored from it exactly, so late, concurrent and
    /// repeated events merge as if it had never left (docs/tiering.md). Hidden from SQL;
    /// null in imported segments, which then fall back to a base at the cold version.
    public static let ticketsStored = TableSchema(
        name: "tickets",
        columns: tickets.columns + [ColumnDef(mergeStateColumn, .string, nullable: true, doc: "hot-tier merge state, values blanked")],
        idColumn: "id",
        timeColumn: "updated_at"
    )
    public static let mergeStateColumn = "_merge_state"

    /// The columns a table's segments store (the table's, plus hidden ones).
    public static func stored(_ table: TableSchema) -> TableSchema {
        table.name == tickets.name ? ticketsStored : table
    }

    /// The metric names of `ticket_metrics` (the hot tier's counters, docs/hot-tier.md).
    public static let metricNames = ["created", "status", "first_response", "solved", "reopened", "csat"]

    /// Hourly counters of ticket activity: the hot tier's per-hour counters, moved to the
    /// cold tier once past the per-minute retention. A (bucket, metric, dimensions) may
    /// have several rows (events that arrived late are counted in a later run): sum them.
    public static let ticketMetrics = TableSchema(
        name: "ticket_metrics",
        columns: [
            ColumnDef("bucket", .timestamp, doc: "start of the hour (UTC)"),
            ColumnDef("metric", .enumeration(metricNames)),
            ColumnDef("channel", .enumeration(ticketChannels), nullable: true, doc: "created: the ticket's channel"),
            ColumnDef("priority", .enumeration(ticketPriorities), nullable: true, doc: "created: the ticket's priority"),
            ColumnDef("queue", .string, nullable: true, doc: "created: the ticket's queue"),
            ColumnDef("status_before", .enumeration(ticketStatuses), nullable: true, doc: "status: null for a new ticket"),
            ColumnDef("status_after", .enumeration(ticketStatuses), nullable: true, doc: "status: the new status"),
            ColumnDef("satisfaction", .int8, nullable: true, doc: "csat: the score given"),
            ColumnDef("value", .int64, doc: "events counted"),
        ],
        idColumn: "bucket",
        timeColumn: "bucket"
    )

    public static let all = [tickets, ticketEvents, ticketMetrics]

    public static func named(_ name: String) -> TableSchema? {
        all.first { $0.name == name }
    }
}
