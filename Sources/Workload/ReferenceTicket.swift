/// The merge rule of the contract, written as plainly as it is stated, so that the
/// generator's `--expect` is an independent reference for the hot tier's merge: per
/// field, the value from the event with the greatest stamp (lamport, writer as bytes)
/// wins; the vector is the pointwise maximum; `version` is its sum.
struct ReferenceTicket {
    var values: [FieldValue]
    /// Per column: (lamport, writer rank + 1), (0, 0) = never set.
    var stamps: [(Int64, Int)]
    /// The ticket's vector, writers in the order first seen.
    var vector: [(writer: Writer, count: Int64)] = []

    init(id: Int64) {
        values = Array(repeating: .null, count: Column.count)
        values[Column.id] = .integer(id)
        stamps = Array(repeating: (0, 0), count: Column.count)
    }

    func count(of w: Writer) -> Int64 { vector.first { $0.writer == w }?.count ?? 0 }

    /// Applies one event: `fields`, and `updated_at` = `at` (every event carries its time).
    mutating func apply(writer: Writer, vector v: [(writer: Writer, count: Int64)], fields: [(column: Int, value: FieldValue)], at: Int64) {
        var lamport: Int64 = 0
        for (w, c) in v {
            lamport += c
            if let i = vector.firstIndex(where: { $0.writer == w }) {
                if c > vector[i].count { vector[i].count = c }
            } else {
                vector.append((w, c))
            }
        }
        let stamp = (lamport, Int(writer.rank) + 1)
        for (c, value) in fields where stamp > stamps[c] {
            stamps[c] = stamp
            values[c] = value
        }
        if stamp > stamps[Column.updatedAt] {
            stamps[Column.updatedAt] = stamp
            values[Column.updatedAt] = .time(at)
        }
    }

    /// The final row: `version` is the vector's sum.
    var row: [FieldValue] {
        var r = values
        r[Column.version] = .integer(vector.reduce(0) { $0 + $1.count })
        return r
    }
}
