#if canImport(Glibc)
import Glibc
#endif
import Testing
import Foundation
import Query
import SystemSupport
import StrataTesting
import StrataCore

/// A seeded fuzzer for the SQL front end and engine (issue 13): queries of the committed
/// SQL corpus of the fuzz targets (`Tests/FuzzTargetsTests/corpus/sql`, shared with libFuzzer), mutated by tokens and bytes, run against the edge-case table on
/// a 4 MiB stack, each with a short timeout. Every one must answer or fail with a QueryError:
/// a crash kills the test process, a hang fails the time bound. CI runs it for about 20 s
/// (STRATA_FUZZ_SECONDS sets the budget; STRATA_SEED replays a run); docs/sql.md has a longer one.
@Suite struct SQLFuzzTests {
    static let pieces = ["SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "HAVING", "LIMIT", "(", ")", ",", "+", "-", "*", "/", "%", "||", "::",
                         "NOT", "AND", "OR", "IN", "LIKE", "ILIKE", "IS NULL", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE", "END", "CAST", "AS",
                         "count(*)", "sum(", "avg(", "min(", "quantile_cont(", "date_trunc('day',", "DISTINCT", "'%a_'", "''", "NULL", "1e308",
                         "9223372036854775807", "-1", "0", "2.5", "id", "status", "subject", "created_at", "t.id", "x.id", "tickets", "tickets t",
                         "(SELECT id FROM tickets)", "INTERVAL '1 day'", "TIMESTAMP '2026-10-01 00:00:00'", ";", "--", "/*", "\"id\"", "$1", "\u{0}"]

    @Test func mutatedQueriesAnswerOrFailCleanly() throws {
        let corpusDir = ProjectPaths.root + "/Tests/FuzzTargetsTests/corpus/sql"
        let examples = ProjectPaths.root + "/examples/queries"
        let paths = try FileManager.default.contentsOfDirectory(atPath: corpusDir).sorted().map { corpusDir + "/" + $0 }
            + FileManager.default.contentsOfDirectory(atPath: examples).filter { $0.hasSuffix(".sql") }.sorted().map { examples + "/" + $0 }
        let corpus = paths.map { String(decoding: readWholeFile($0) ?? [], as: UTF8.self) }.filter { !$0.isEmpty }
        #expect(corpus.count >= 10)
        let (e0, dir) = try HostileQueryTests.engine()
        defer { dir.remove() }
        var e = e0
        e.timeoutSeconds = 2
        nonisolated(unsafe) let engine = e
        let seed = testSeed("SQLFuzzTests")
        let budget = getenv("STRATA_FUZZ_SECONDS").flatMap { Double(String(cString: $0)) } ?? 20
        print("SQLFuzzTests: \(budget) s")
        nonisolated(unsafe) var ran = 0, answered = 0
        nonisolated(unsafe) var slowest = (0.0, "")
        onSmallStack {
            var rng = SplitMix64(seed: seed)
            let end = monotonicSeconds() + budget
            while monotonicSeconds() < end {
                var words = corpus[Int(rng.next() % UInt64(corpus.count))].split(separator: " ").map(String.init)
                for _ in 0...Int(rng.next() % 4) {
                    let i = Int(rng.next() % UInt64(max(1, words.count)))
                    switch rng.next() % 5 {
                    case 0 where !words.isEmpty: words.remove(at: i)
                    case 1: words.insert(Self.pieces[Int(rng.next() % UInt64(Self.pieces.count))], at: min(i, words.count))
                    case 2 where !words.isEmpty: words[i] = Self.pieces[Int(rng.next() % UInt64(Self.pieces.count))]
                    case 3 where !words.isEmpty:  // repeat a word many times: long chains
                        words.insert(contentsOf: Array(repeating: words[i], count: Int(rng.next() % 300)), at: i)
                    default:
                        var bytes = Array(words.joined(separator: " ").utf8)
                        if !bytes.isEmpty { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next() % 128) }
                        words = [String(decoding: bytes, as: UTF8.self)]
                    }
                }
                let sql = words.joined(separator: " ")
                let t0 = monotonicSeconds()
                if case .success = engine.result(sql) { answered += 1 }
                let took = monotonicSeconds() - t0
                if took > slowest.0 { slowest = (took, sql) }
                ran += 1
            }
        }
        print("SQLFuzzTests: \(ran) queries, \(answered) answered, slowest \(slowest.0) s")
        #expect(ran > 100, "seed \(seed)")
        #expect(slowest.0 < 10, "seed \(seed): \(slowest.1.prefix(300)) took \(slowest.0) s")
    }
}
