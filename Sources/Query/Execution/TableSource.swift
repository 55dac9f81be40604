import StrataCore

/// Where a query's rows come from: both tiers, each row exactly once (docs/tiering.md).
/// The engine sees only this protocol; the CLI and the server wire in the real one
/// (`TieredTableSource`, Compactor module).
public protocol TableSource {
    /// Calls `body` with batches of the named columns (in that order). `ranges` are
    /// inclusive bounds that rows of the named integer columns must fall in (from the
    /// WHERE clause): the source may skip segments and row groups that cannot hold such
    /// rows, and report what it skipped in the returned stats. Rows outside them may still
    /// be delivered; the engine filters.
    /// With `planOnly`, nothing is read past the catalog and the footers: the stats say
    /// what a scan would read and prune (EXPLAIN).
    /// With `threads` > 1 the source may call `body` from that many threads at once, each
    /// call naming its worker (0..<threads); a worker's calls never overlap. An error thrown
    /// by `body` stops the scan and is rethrown.
    /// Each batch is `rowCount` rows of columns; `selection`, when not nil, lists the rows
    /// of the batch that count (ascending), so that rows dropped by the source (ranges,
    /// deletions, hot tickets) are never copied out of the decoded columns.
    func scan(table: TableSchema, columns: [String], ranges: [String: ClosedRange<Int64>], planOnly: Bool, threads: Int,
              _ body: @Sendable (_ worker: Int, _ columns: [ColumnVector], _ rowCount: Int, _ selection: [Int]?) throws -> Void) throws -> ScanStats
}

/// What a scan read and what it skipped (EXPLAIN shows it).
public struct ScanStats: Sendable, Equatable {
    public var hotRows = 0
    public var segments = 0
    public var segmentsPruned = 0
    public var rowGroups = 0
    public var rowGroupsPruned = 0
    /// Row groups read no further than their range columns: no row fell in the ranges.
    public var rowGroupsSkipped = 0
    public var coldRows = 0
    public var notes: [String] = []
    public init() {}
}
