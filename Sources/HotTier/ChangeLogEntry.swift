import StrataCore

/// The change log (docs/hot-tier.md, "Change log"): each stream entry holds, in its field
/// `e`, the lines of the events one script call accepted, separated by `\n`, one line per
/// event of nine fields separated by `|`:
/// `id|at|writer|lamport|fields|status_before|status_after|agent_before|agent_after`.
/// Writer names hold no `|`, `,` or control character (the event decoder refuses them), nor
/// do field names or statuses, so neither separator can occur inside a field. An entry
/// written before entries held several lines is a single line, read the same way. Every
/// reader of the log parses it here.
public enum ChangeLogEntry {
    public static let fieldCount = 9
    public static let separator = UInt8(ascii: "|")
    public static let lineSeparator = UInt8(ascii: "\n")

    /// The event lines of one entry's text, in order (an empty text has none).
    public static func lines(_ text: [UInt8]) -> [ArraySlice<UInt8>] {
        // A scan of the bytes in place: the standard library's `split` ran unspecialized here
        // (a protocol call per byte compared; 6% of the compactor's CPU on 1M tickets).
        var out = [ArraySlice<UInt8>]()
        let ends = text.withUnsafeBufferPointer { b -> [Int] in
            var ends = [Int]()
            for i in 0..<b.count where b[i] == lineSeparator { ends.append(i) }
            return ends
        }
        out.reserveCapacity(ends.count + 1)
        var start = 0
        for end in ends + [text.count] {
            if end > start { out.append(text[start..<end]) }
            start = end + 1
        }
        return out
    }

    /// One entry's text: the lines joined (they must not be empty nor hold a line separator).
    public static func text<S: Sequence>(_ lines: S) -> [UInt8] where S.Element: Collection<UInt8> {
        var out = [UInt8]()
        for line in lines {
            if !out.isEmpty { out.append(lineSeparator) }
            out.append(contentsOf: line)
        }
        return out
    }

    /// The ticket an event line is about (its first field), nil when that is not a number.
    public static func ticket<C: Collection<UInt8>>(of line: C) -> Int64? {
        if let id = line.withContiguousStorageIfAvailable({ ticket(of: UnsafeRawBufferPointer($0)) }) { return id }
        return DecimalInteger.parse(line.prefix { $0 != separator }, allowPlus: false)
    }

    /// The same over bytes in memory (the compactor splits every moved entry's lines by it).
    public static func ticket(of line: UnsafeRawBufferPointer) -> Int64? {
        var end = 0
        while end < line.count && line[end] != separator { end += 1 }
        return DecimalInteger.parse(UnsafeRawBufferPointer(rebasing: line[0..<end]), allowPlus: false)
    }

    public static func fields(_ line: [UInt8]) -> [Range<Int>]? { fields(line[...]) }

    /// The byte ranges (indices of `line`) of the nine fields, nil unless it has exactly nine.
    public static func fields(_ line: ArraySlice<UInt8>) -> [Range<Int>]? {
        var out = [Range<Int>]()
        return fields(line, into: &out) ? out : nil
    }

    /// The same into `out` (emptied first; a caller splitting many lines keeps one array):
    /// false, and `out` not to be used, unless the line has exactly nine fields.
    public static func fields(_ line: ArraySlice<UInt8>, into out: inout [Range<Int>]) -> Bool {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(fieldCount)
        return line.withUnsafeBufferPointer { b in
            let base = line.startIndex
            var start = 0
            for i in 0..<b.count where b[i] == separator {
                guard out.count < fieldCount - 1 else { return false }
                out.append((base + start)..<(base + i))
                start = i + 1
            }
            out.append((base + start)..<(base + b.count))
            return out.count == fieldCount
        }
    }
}
