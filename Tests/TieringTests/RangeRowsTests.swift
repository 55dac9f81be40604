import Testing
import StrataCore
@testable import Tiering

/// The rows a row group keeps for a WHERE range: what a plain filter keeps, for every
/// share that passes, with nulls, with and without a list of rows to choose among, and
/// at the ends of Int64.
@Suite struct RangeRowsTests {
    @Test func branchFreeRowsEqualAPlainFilter() {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<300 {
            let n = Int.random(in: 0...700, using: &rng)
            let values: [Int64] = (0..<n).map { _ in
                trial % 5 == 0 ? Int64.random(in: Int64.min...Int64.max, using: &rng) : Int64.random(in: -50...50, using: &rng)
            }
            var validity: Bitmap? = nil
            if trial % 2 == 0 {
                var b = Bitmap(count: n, allSet: true)
                for i in 0..<n where Int.random(in: 0..<4, using: &rng) == 0 { b[i] = false }
                validity = b
            }
            let a = trial % 5 == 0 ? Int64.random(in: Int64.min...Int64.max, using: &rng) : Int64.random(in: -60...60, using: &rng)
            let b = trial % 5 == 0 ? Int64.random(in: Int64.min...Int64.max, using: &rng) : Int64.random(in: -60...60, using: &rng)
            let range = trial % 7 == 0 ? Int64.min...Int64.max : min(a, b)...max(a, b)
            let among: [Int]? = trial % 3 == 0 ? (0..<n).filter { _ in Bool.random(using: &rng) } : nil
            let expected = (among ?? Array(0..<n)).filter { range.contains(values[$0]) && (validity?[$0] ?? true) }
            let got = ColdRowGroupRead.rows(inside: range, values, validity: validity, among: among, count: n)
            #expect(got == expected, "trial \(trial): range \(range), \(n) rows")
        }
    }
}
