import Testing
@testable import Query

@Suite struct AggregatorTests {
    /// Selection finds what a sort would, for every fraction, on values with many ties.
    @Test func quantileBySelectionEqualsQuantileBySorting() {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<300 {
            let n = 1 + Int.random(in: 0..<(trial < 100 ? 8 : 400), using: &rng)
            let values = (0..<n).map { _ in Double(Int.random(in: -5...(trial % 3 == 0 ? 5 : 10_000), using: &rng)) }
            let sorted = values.sorted()
            for fraction in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                let pos = fraction * Double(n - 1)
                let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
                let expected = sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
                var copy = values
                #expect(Aggregator.quantile(&copy, fraction) == expected, "\(values) at \(fraction)")
            }
        }
    }

    /// Ranking by top bits finds what a sort finds, on long lists: ties, negatives,
    /// zeros of both signs, values sharing a bucket or spread over many, the last rank.
    @Test func rankingLongListsEqualsSorting() {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<40 {
            let n = Aggregator.radixSelectMinimum + Int.random(in: 0...20_000, using: &rng)
            let values: [Double] = (0..<n).map { _ in
                switch trial % 4 {
                case 0: return Double(Int.random(in: -50...50, using: &rng))  // many ties
                case 1: return Double.random(in: -1e12...1e12, using: &rng)
                case 2: return 1000 + Double.random(in: 0..<1e-9, using: &rng)  // one bucket
                default: return Bool.random(using: &rng) ? 0.0 : -0.0
                }
            }
            let sorted = values.sorted()
            for k in [0, 1, n / 2, n * 9 / 10, n - 2, n - 1] {
                let (first, second) = Aggregator.ranked(values, k)
                #expect(first == sorted[k] && second == sorted[min(k + 1, n - 1)], "trial \(trial) rank \(k) of \(n)")
            }
            for fraction in [0.0, 0.5, 0.9, 0.99, 1.0] {
                let pos = fraction * Double(n - 1)
                let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
                let expected = sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
                var copy = values
                #expect(Aggregator.quantile(&copy, fraction) == expected, "trial \(trial) at \(fraction)")
            }
        }
    }

    /// date_trunc and CAST AS DATE in UTC, every row at once, give what the per-value
    /// arithmetic gives, before 1970 too; values at null rows may be anything and trap nothing.
    @Test func utcTruncationEqualsThePerValueArithmetic() {
        var rng = SystemRandomNumberGenerator()
        let values: [Int64] = (0..<20_000).map { k in
            k < 4 ? [Int64.min, Int64.max, -1, 0][k] : Int64.random(in: -5_000_000_000_000...5_000_000_000_000, using: &rng)
        }
        for unit in [TimeMath.Unit.hour, .day, .week] {
            var out = [Int64](repeating: 0, count: values.count)
            Evaluator.truncateUTC(unit, values, into: &out)
            for (i, v) in values.enumerated().dropFirst(2) {
                #expect(out[i] == TimeMath.truncate(unit, v), "\(unit) of \(v)")
            }
        }
        // Independently of the shared arithmetic: a week starts on a Monday (1970-01-05 was
        // one), at most six days before.
        let day = TimeMath.msPerDay
        for v in values.dropFirst(2) {
            let start = TimeMath.mondayOnOrBefore(TimeMath.floorDiv(v, day))
            #expect(((start - 4) % 7 + 7) % 7 == 0 && (0..<7).contains(TimeMath.floorDiv(v, day) - start), "week of \(v)")
        }
    }

    /// The branch-free batch sums equal a plain sum of the non-null values, at the ends
    /// of Int64 too.
    @Test func batchSumsSkipNullsAndAreExact() {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<200 {
            let n = Int.random(in: 0...3000, using: &rng)
            let ints: [Int64] = (0..<n).map { _ in
                switch trial % 3 {
                case 0: return Int64.random(in: Int64.min...Int64.max, using: &rng)
                case 1: return Bool.random(using: &rng) ? Int64.max - Int64.random(in: 0...5, using: &rng) : Int64.min + Int64.random(in: 0...5, using: &rng)
                default: return Int64.random(in: -1000...1000, using: &rng)
                }
            }
            let nulls = (0..<n).map { _ in Int.random(in: 0..<4, using: &rng) == 0 }
            let doubles = ints.map { Double($0) / 1e6 }
            var expected: Int128 = 0, expectedDouble = 0.0, magnitude = 0.0
            for i in 0..<n where !nulls[i] { expected += Int128(ints[i]); expectedDouble += doubles[i]; magnitude += abs(doubles[i]) }
            let got = ints.withUnsafeBufferPointer { x in nulls.withUnsafeBufferPointer { Aggregator.sum(x, nulls: $0, count: n) } }
            #expect(got == expected, "trial \(trial)")
            let nullCount = nulls.withUnsafeBufferPointer { Aggregator.nullCount($0, count: n) }
            #expect(nullCount == nulls.filter { $0 }.count)
            let gotDouble = doubles.withUnsafeBufferPointer { x in nulls.withUnsafeBufferPointer { Aggregator.sum(x, nulls: $0, count: n) } }
            // Another order of additions rounds differently: bounded by the terms' size.
            #expect(abs(gotDouble - expectedDouble) <= 1e-12 * max(1, magnitude), "trial \(trial)")
        }
    }
}
