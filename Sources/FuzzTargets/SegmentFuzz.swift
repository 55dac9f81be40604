import SegmentFormat
import StrataCore

/// Segment files as the cold tier reads them from disk. An input starting `SEG1` is a whole
/// file; any other input is a list of byte edits (offset: 2 bytes, little-endian, modulo the
/// size; value: 1 byte) to a valid segment of the edge tickets, in row groups of 4. Opening
/// and reading every column of every row group, whole and by rows, must give the original
/// values or throw a `SegmentError`: a corrupt file is an error, never a wrong answer.
final class SegmentFuzz: @unchecked Sendable {
    static let shared = SegmentFuzz()
    let valid: [UInt8]
    /// The valid segment's columns, row group by row group.
    let original: [[Int: ColumnVector]]

    init() {
        let source = MemoryTickets(rows: EdgeTickets.rows)
        var writer = try! SegmentWriter(schema: Tables.ticketsStored, sink: MemorySink(), rowGroupSize: 4, createdAtMs: 0)
        try! writer.append(source.columns)
        _ = try! writer.finish()
        valid = writer.sink.bytes
        guard case .read(let groups) = Self.readAll(valid) else { preconditionFailure("the fuzz segment does not read back") }
        original = groups
    }

    enum Outcome { case refused, read([[Int: ColumnVector]]), wrong(String) }

    func run(_ input: [UInt8]) -> String? {
        if input.starts(with: Array("SEG1".utf8)) {
            if case .wrong(let why) = Self.readAll(Array(input.dropFirst(4)), rows: Array(input.suffix(3))) { return why }
            return nil
        }
        var bytes = valid
        var k = 0
        while k + 3 <= input.count {
            let offset = (Int(input[k]) | Int(input[k + 1]) << 8) % bytes.count
            bytes[offset] = input[k + 2]
            k += 3
        }
        let read: [[Int: ColumnVector]]
        switch Self.readAll(bytes, rows: Array(input.suffix(3))) {
        case .refused: return nil  // an error: right
        case .wrong(let why): return why
        case .read(let groups): read = groups
        }
        guard read.count == original.count else { return "an edited segment reads as \(read.count) row groups, not \(original.count)" }
        for (g, (a, b)) in zip(read, original).enumerated() {
            guard a.count == b.count else { return "an edited segment has \(a.count) columns in row group \(g), not \(b.count)" }
            for (c, v) in b where !Self.same(a[c], v) {
                return "an edited segment reads other values in row group \(g), column \(c), without an error"
            }
        }
        return nil
    }

    /// Every column of every row group, or nil when the reader refused the file. Reading by
    /// the given rows must agree with reading whole.
    static func readAll(_ bytes: [UInt8], rows pick: [UInt8] = []) -> Outcome {
        do {
            let reader = try SegmentReader(source: MemorySource(bytes), name: "fuzz.seg")
            _ = reader.verify()
            let columns = Array(reader.footer.columns.indices)
            var out = [[Int: ColumnVector]]()
            for g in reader.footer.rowGroups.indices {
                let whole = try reader.readRowGroup(g, columns: columns)
                let n = reader.footer.rowGroups[g].rowCount
                for (c, v) in whole where v.count != n {
                    return .wrong("row group \(g) column \(c) decoded \(v.count) rows, the footer says \(n)")
                }
                if n > 0 {
                    let rows = Array(Set(pick.map { Int($0) % n })).sorted()
                    let some = try reader.readRowGroup(g, columns: columns, rows: rows)
                    for c in columns where !same(some[c], whole[c]?.selecting(rows)) {
                        return .wrong("row group \(g) column \(c): reading rows \(rows) gives other values than reading whole")
                    }
                }
                out.append(whole)
            }
            return .read(out)
        } catch is SegmentError {
            return .refused
        } catch {
            return .wrong("the reader threw \(type(of: error)), not a SegmentError: \(error)")
        }
    }

    /// The same values row by row, whatever the encoding (dictionary or plain, a validity
    /// bitmap or none).
    static func same(_ a: ColumnVector?, _ b: ColumnVector?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        guard a.count == b.count else { return false }
        for i in 0..<a.count {
            if a.isNull(i) != b.isNull(i) { return false }
            if a.isNull(i) { continue }
            if case .integers = a.values {
                guard case .integers = b.values, a.integer(at: i) == b.integer(at: i) else { return false }
            } else {
                if case .integers = b.values { return false }
                if a.bytes(at: i) != b.bytes(at: i) { return false }
            }
        }
        return true
    }
}
