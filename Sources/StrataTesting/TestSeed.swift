#if canImport(Glibc)
import Glibc
#endif

/// The seed of a randomized test: `STRATA_SEED` when set, else a fresh one. Printed either
/// way, with the test's name, so that any failure can be replayed exactly.
public func testSeed(_ name: String) -> UInt64 {
    let seed: UInt64
    if let s = getenv("STRATA_SEED"), let v = UInt64(String(cString: s)) {
        seed = v
    } else {
        var g = SystemRandomNumberGenerator()
        seed = g.next() % 1_000_000_007
    }
    print("\(name): seed \(seed) (replay with STRATA_SEED=\(seed))")
    return seed
}
