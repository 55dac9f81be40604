import StrataCore
import SystemSupport
import StrataTesting
@testable import SegmentFormat

typealias SeededRandom = SplitMix64


enum ProcessInfoLite {
    static func env(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return String(cString: p)
    }
}

let sampleStrings = ["", "a", "open", "Ünïcödé ✓", "日本語のチケット", "emoji 🎫🚀", "comma, \"quoted\"",
                     String(repeating: "long ", count: 40), "\u{0}nul inside", "z"]

/// Random rows for a schema: every column's values follow one of several shapes
/// (random, sorted, constant, runs, extremes, accelerating), with nulls where the column allows them.
func randomColumns(_ schema: TableSchema, rows: Int, rng: inout SeededRandom) -> [ColumnVector] {
    schema.columns.enumerated().map { (ci, def) in
        var v = ColumnVector.empty(for: def.type)
        let shape = Int(rng.next() % 7)
        let nullRate = def.nullable ? [0.0, 0.1, 0.5, 0.97, 1.0][Int(rng.next() % 5)] : 0.0
        var sorted: Int64 = Int64(bitPattern: rng.next() >> 2) - (1 << 61)
        var step: Int64 = 0
        for i in 0..<rows {
            if Double(rng.next() % 10_000) / 10_000 < nullRate {
                v.appendNull()
                continue
            }
            switch def.type {
            case .int8: v.appendInteger(Int64(Int8(truncatingIfNeeded: rng.next())))
            case .int32: v.appendInteger(shape == 0 ? 0 : Int64(Int32(truncatingIfNeeded: rng.next())))
            case .int64, .timestamp:
                switch shape {
                case 0: v.appendInteger(Int64(bitPattern: rng.next()))
                case 1: sorted &+= Int64(rng.next() % 1000); v.appendInteger(sorted)
                case 2: v.appendInteger(42)
                case 3: v.appendInteger(i % 3 == 0 ? Int64.min : Int64.max)
                case 4: v.appendInteger(Int64(i / 100))
                case 5: step &+= 3; sorted &+= step; v.appendInteger(sorted)  // steadily faster: DELTA_OF_DELTA
                default: v.appendInteger(1_700_000_000_000 + Int64(rng.next() % 86_400_000) + Int64(ci))
                }
            case .string:
                switch shape {
                case 0, 1: v.appendString(Array(sampleStrings[Int(rng.next() % UInt64(sampleStrings.count))].utf8))
                case 2: v.appendString(Array("same".utf8))
                default: v.appendString(Array("subject \(rng.next() % 100_000) ✓".utf8))
                }
            case .enumeration(let values):
                v.appendString(Array(values[Int(rng.next() % UInt64(values.count))].utf8))
            }
        }
        return v
    }
}

/// Compares two vectors by value (a dictionary vector equals the strings it stands for).
func sameValues(_ a: ColumnVector, _ b: ColumnVector) -> Bool {
    guard a.count == b.count else { return false }
    for i in 0..<a.count {
        if a.isNull(i) != b.isNull(i) { return false }
        if a.isNull(i) { continue }
        switch a.values {
        case .integers: if a.integer(at: i) != b.integer(at: i) { return false }
        default: if a.string(at: i) != b.string(at: i) { return false }
        }
    }
    return true
}

func writeSegment(_ schema: TableSchema, _ columns: [ColumnVector], rowGroupSize: Int) throws -> [UInt8] {
    var w = try SegmentWriter(schema: schema, sink: MemorySink(), rowGroupSize: rowGroupSize, createdAtMs: 0)
    try w.append(columns)
    _ = try w.finish()
    return w.sink.bytes
}

/// Reads every column of every row group back and concatenates them.
func readAll(_ bytes: [UInt8], name: String = "test.seg") throws -> [ColumnVector] {
    let r = try SegmentReader(source: MemorySource(bytes), name: name)
    var out = r.footer.columns.map { ColumnVector.empty(for: $0.type) }
    for g in r.footer.rowGroups.indices {
        let cols = try r.readRowGroup(g, columns: Array(r.footer.columns.indices))
        for c in out.indices { out[c].append(contentsOf: cols[c]!) }
    }
    return out
}

#if canImport(Glibc)
import Glibc
#endif
