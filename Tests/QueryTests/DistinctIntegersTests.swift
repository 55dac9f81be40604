import Testing
import SystemSupport
import StrataTesting
@testable import Query

/// `DistinctIntegers` holds what a `Set<Int64>` holds, through every change of form
/// (bitmap to table and back) and every union.
@Suite struct DistinctIntegersTests {
    /// splitmix64: a seeded generator, so that a failure can be replayed.
    typealias Random = SplitMix64

    /// Values of one of several shapes: close together, spread out, at the ends of Int64,
    /// close with a few far ones (the bitmap must give way to a table, and come back).
    static func values(shape: Int, count: Int, rng: inout Random) -> [Int64] {
        let centre = Int64(bitPattern: rng.next())
        return (0..<count).map { i in
            switch shape {
            case 0: return Int64(rng.next() % 5000)
            case 1: return Int64(bitPattern: rng.next())
            case 2: return rng.next() % 2 == 0 ? Int64.min + Int64(rng.next() % 300) : Int64.max - Int64(rng.next() % 300)
            case 3: return i % 500 == 7 ? Int64(bitPattern: rng.next()) : 1_000_000 + Int64(rng.next() % 20_000)
            case 4: return centre &+ Int64(rng.next() % 3000) &- 1500
            case 5: return i < 3 ? [Int64.min, Int64.max, 0][i] : Int64(rng.next() % 100) - 50
            default: return -Int64(i) * 37  // descending: the bitmap grows downward
            }
        }
    }

    static func contents(_ s: DistinctIntegers) -> [Int64] {
        var out = [Int64]()
        s.forEach { out.append($0) }
        return out.sorted()
    }

    /// What differs between the set's values (each once) and the expected ones, briefly.
    static func difference(_ s: DistinctIntegers, _ expected: Set<Int64>) -> String {
        let held = contents(s)
        if held.count != Set(held).count { return "\(held.count - Set(held).count) value(s) listed twice" }
        let missing = expected.subtracting(held).sorted(), extra = Set(held).subtracting(expected).sorted()
        if missing.isEmpty && extra.isEmpty { return "" }
        return "missing \(missing.count) (\(missing.prefix(5))), extra \(extra.count) (\(extra.prefix(5)))"
    }

    @Test func holdsWhatASetHolds() {
        let seed = testSeed("DistinctIntegersTests.holdsWhatASetHolds")
        var rng = Random(seed: seed)
        for trial in 0..<200 {
            let shape = trial % 7
            let values = Self.values(shape: shape, count: 1 + Int(rng.next() % 20_000), rng: &rng)
            var set = Set<Int64>(), ours = DistinctIntegers()
            for v in values {
                let added = ours.insert(v)
                #expect(added == set.insert(v).inserted, "shape \(shape) value \(v) seed \(seed)")
                if added != set.contains(v) { break }
            }
            #expect(ours.count == set.count, "shape \(shape) seed \(seed)")
            #expect(Self.difference(ours, set) == "", "shape \(shape) seed \(seed)")
        }
    }

    @Test func unionsHoldWhatSetUnionsHold() {
        let seed = testSeed("DistinctIntegersTests.unionsHoldWhatSetUnionsHold")
        var rng = Random(seed: seed)
        for trial in 0..<300 {
            let shapes = (trial % 7, Int(rng.next() % 7))
            let a = Self.values(shape: shapes.0, count: Int(rng.next() % 5000), rng: &rng)
            let b = Self.values(shape: shapes.1, count: Int(rng.next() % 5000), rng: &rng)
            var x = DistinctIntegers(), y = DistinctIntegers()
            for v in a { _ = x.insert(v) }
            for v in b { _ = y.insert(v) }
            x.formUnion(y)
            let expected = Set(a).union(b)
            #expect(x.count == expected.count, "shapes \(shapes) seed \(seed)")
            #expect(Self.difference(x, expected) == "", "shapes \(shapes) seed \(seed)")
        }
    }

    /// Close values stay a bitmap (one bit each), spread ones a table; the form follows
    /// the values as they come.
    @Test func theFormFollowsTheSpread() {
        var close = DistinctIntegers()
        for v in 0..<100_000 { _ = close.insert(Int64(v) * 3) }
        #expect(close.isDense && close.count == 100_000)
        var spread = DistinctIntegers()
        for v in 0..<1000 { _ = spread.insert(Int64(v) << 40) }
        #expect(!spread.isDense && spread.count == 1000)
        // A far value makes a small bitmap a table; many close values make it a bitmap again.
        var mixed = DistinctIntegers()
        _ = mixed.insert(1)
        _ = mixed.insert(1 << 50)
        #expect(!mixed.isDense)
        for v in 0..<10_000 { _ = mixed.insert(Int64(v)) }
        #expect(!mixed.isDense)  // 2^50 apart: never close enough
        var returning = DistinctIntegers()
        _ = returning.insert(0)
        _ = returning.insert(1 << 20)
        #expect(!returning.isDense)
        for v in 0..<40_000 { _ = returning.insert(Int64(v) * 7) }
        #expect(returning.isDense && returning.count == 40_001)
    }
}

/// `GroupMap` finds what a `Dictionary` finds, through its growth.
@Suite struct GroupMapTests {
    /// Looks each key up, inserting it with the next group when absent, in both.
    static func check<Key: GroupKey & Hashable>(_ keys: [Key]) {
        var map = GroupMap<Key>(), expected = [Key: Int]()
        for key in keys {
            let found = map.group(of: key)
            #expect(found == expected[key], "\(key)")
            if found == nil {
                map.insert(key, group: expected.count)
                expected[key] = expected.count
            }
        }
        #expect(map.count == expected.count)
        for (key, group) in expected { #expect(map.group(of: key) == group) }
    }

    @Test func findsWhatADictionaryFinds() {
        var rng = SplitMix64(seed: testSeed("GroupMapTests.findsWhatADictionaryFinds"))
        for trial in 0..<50 {
            Self.check((0..<Int.random(in: 0...5000, using: &rng)).map { _ in
                trial % 2 == 0 ? Int64.random(in: Int64.min...Int64.max, using: &rng) : Int64.random(in: -300...300, using: &rng)
            })
        }
    }

    @Test func codedKeysFindWhatADictionaryFinds() {
        var rng = SplitMix64(seed: testSeed("GroupMapTests.codedKeysFindWhatADictionaryFinds"))
        Self.check((0..<20_000).map { _ in
            var key = CodedKey()
            for c in 0..<4 { key[c] = Int64.random(in: 0...6, using: &rng) }
            key.nulls = UInt8.random(in: 0...3, using: &rng)
            return key
        })
    }
}
