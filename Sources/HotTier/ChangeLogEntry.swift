import StrataCore

/// One entry of a shard's change log, as the merge script writes it (docs/hot-tier.md,
/// "Change log"): nine fields separated by `|`,
/// `id|at|writer|lamport|fields|status_before|status_after|agent_before|agent_after`.
/// Writer names hold no `|` (the event decoder refuses them), nor do field names or statuses.
/// Every reader of the log parses it here.
public enum ChangeLogEntry {
    public static let fieldCount = 9
    public static let separator = UInt8(ascii: "|")

    /// The ticket the entry is about (its first field), nil when that is not a number.
    public static func ticket<C: Collection<UInt8>>(of entry: C) -> Int64? {
        DecimalInteger.parse(entry.prefix { $0 != separator }, allowPlus: false)
    }

    /// The byte ranges of the nine fields, nil unless the entry has exactly nine.
    public static func fields(_ entry: [UInt8]) -> [Range<Int>]? {
        var out = [Range<Int>]()
        out.reserveCapacity(fieldCount)
        var start = 0
        for (i, byte) in entry.enumerated() where byte == separator {
            guard out.count < fieldCount - 1 else { return nil }
            out.append(start..<i)
            start = i + 1
        }
        out.append(start..<entry.count)
        return out.count == fieldCount ? out : nil
    }
}
