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
}
