/// The limits of the query engine, each with the error a query gets past it (docs/sql.md, "Limits").
public enum QueryLimits {
    public static let maxQueryBytes = 64 * 1024
    public static let maxTokens = 10_000
    public static let maxExpressionDepth = 200
    public static let defaultMaxResultRows = 1_000_000
    public static let defaultMaxGroups = 5_000_000
    /// Values held by DISTINCT aggregates, over all groups and aggregates of one thread.
    public static let defaultMaxDistinctValues = 50_000_000
    /// Rows a streamed answer may send (it holds no rows in memory; the timeout bounds it too).
    public static let defaultMaxStreamedRows = 100_000_000
    public static let maxThreads = 64
    /// Text one batch of a scan is decoded into at a time (a batch of long strings is cut
    /// into slices of rows): what a query holds for a reader that does not read, per worker.
    public static let batchBytes = 1 << 20
}
