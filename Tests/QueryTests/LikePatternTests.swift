import Testing
import SystemSupport
import StrataTesting
@testable import Query

/// The plain definition of LIKE, by backtracking (exponential at worst; for short inputs).
func likeReference(_ p: [UInt32?], _ pi: Int, _ t: [UInt32], _ ti: Int, star: UInt32) -> Bool {
    if pi == p.count { return ti == t.count }
    if p[pi] == star { return (ti...t.count).contains { likeReference(p, pi + 1, t, $0, star: star) } }
    guard ti < t.count, p[pi] == nil || p[pi] == t[ti] else { return false }
    return likeReference(p, pi + 1, t, ti + 1, star: star)
}

@Suite struct LikePatternTests {
    @Test func agreesWithThePlainDefinition() {
        var rng = SplitMix64(seed: testSeed("LikePatternTests.agreesWithThePlainDefinition"))
        let seed = rng.state
        let alphabet: [Character] = ["a", "b", "%", "_"]
        for _ in 0..<20_000 {
            let p = String((0..<Int(rng.next() % 8)).map { _ in alphabet[Int(rng.next() % 4)] })
            let t = String((0..<Int(rng.next() % 10)).map { _ in alphabet[Int(rng.next() % 2)] })
            let pe: [UInt32?] = p.unicodeScalars.map { $0 == "_" ? nil : $0.value }
            let want = likeReference(pe, 0, t.unicodeScalars.map(\.value), 0, star: 37)
            #expect(LikePattern(p, caseInsensitive: false).matches(t) == want, "seed \(seed): '\(t)' LIKE '\(p)'")
        }
    }

    @Test func codePointsAndCase() {
        #expect(LikePattern("___", caseInsensitive: false).matches("S\u{0308}a"), "_ is one code point, as in DuckDB")
        #expect(LikePattern("%REFUND%", caseInsensitive: true).matches("Refund request"))
        #expect(!LikePattern("%REFUND%", caseInsensitive: false).matches("Refund request"))
        #expect(LikePattern("%", caseInsensitive: false).matches(""))
        #expect(LikePattern("a%", caseInsensitive: false).matches("a") && !LikePattern("a%a", caseInsensitive: false).matches("a"))
    }

    /// B5 (issue 13): a long pattern over long text took len(text) x len(pattern) per row.
    @Test func aLongPatternOverLongTextTakesLinearTime() {
        let text = String(repeating: "a", count: 60_000)
        let hard = [String(repeating: "%a", count: 3000) + "%b", "%" + String(repeating: "a_", count: 2000) + "b%",
                    "%" + String(repeating: "a", count: 5000) + "b%", String(repeating: "_", count: 59_999) + "b"]
        let started = ContinuousClock.now
        for p in hard { #expect(!LikePattern(p, caseInsensitive: false).matches(text), "\(p.prefix(20))") }
        #expect(LikePattern(String(repeating: "%a", count: 3000) + "%", caseInsensitive: false).matches(text))
        let took = ContinuousClock.now - started
        #expect(took < .seconds(5), "\(took)")
    }
}
