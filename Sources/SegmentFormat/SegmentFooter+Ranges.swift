extension SegmentFooter {
    /// The smallest and largest value of an integer column over the whole segment, from
    /// the chunk statistics (nil when the column is missing or all null).
    public func integerRange(of column: String) -> ClosedRange<Int64>? {
        guard let c = columnIndex(column), columns[c].type.isInteger else { return nil }
        var lo: Int64? = nil, hi: Int64? = nil
        for g in rowGroups {
            if case .integer(let a)? = g.chunks[c].min { lo = Swift.min(lo ?? a, a) }
            if case .integer(let b)? = g.chunks[c].max { hi = Swift.max(hi ?? b, b) }
        }
        guard let lo, let hi else { return nil }
        return lo...hi
    }
}
