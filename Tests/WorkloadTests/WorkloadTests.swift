import Testing
import StrataCore
import HotTier
import SystemSupport
import StrataTesting
@testable import Workload

func bytes(_ body: (@escaping ([UInt8]) throws -> Void) throws -> Void) rethrows -> [UInt8] {
    final class Sink: @unchecked Sendable { var out = [UInt8]() }
    let sink = Sink()
    try body { sink.out += $0 }
    return sink.out
}

func lines(_ b: [UInt8]) -> [[UInt8]] { b.split(separator: 0x0A).map { Array($0) } }

/// The merge rule as the contract states it, over parsed JSON: per field the value of the
/// greatest (lamport, writer) wins; the vector is the pointwise maximum. Independent of
/// `ReferenceTicket`, so that the generator's `--expect` is checked, not restated.
func merge(_ events: [[UInt8]]) throws -> [Int64: [String: JSONValue]] {
    var values = [Int64: [String: JSONValue]](), stamps = [Int64: [String: (Int64, [UInt8])]](), vectors = [Int64: [String: Int64]]()
    for line in events {
        let e = try JSONParser.parse(line)
        guard case .integer(let id)? = e["id"], case .string(let writer)? = e["writer"], case .object(let vv)? = e["vv"],
              case .object(let fields)? = e["fields"] else { throw WorkloadError("bad event") }
        var lamport: Int64 = 0
        for (w, c) in vv {
            guard case .integer(let n) = c else { throw WorkloadError("bad vv") }
            lamport += n
            vectors[id, default: [:]][w] = max(vectors[id]?[w] ?? 0, n)
        }
        for (f, v) in fields {
            let old = stamps[id]?[f]
            let newer = old.map { lamport > $0.0 || (lamport == $0.0 && Array(writer.utf8).lexicographicallyPrecedes($0.1) == false && Array(writer.utf8) != $0.1) } ?? true
            if newer {
                stamps[id, default: [:]][f] = (lamport, Array(writer.utf8))
                values[id, default: [:]][f] = v
            }
        }
    }
    for (id, v) in vectors { values[id, default: [:]]["version"] = .integer(v.values.reduce(0, +)) }
    return values
}

@Suite struct WorkloadTests {
    @Test func theSameSeedGivesTheSameBytesOnAnyNumberOfThreads() throws {
        var one = WorkloadOptions(), two = WorkloadOptions()
        (one.threads, two.threads) = (1, 3)
        var d = DeliveryOptions()
        (d.shuffle, d.dup) = (0.05, 0.02)
        let a = try bytes { try Generator.events(tickets: 40_000, options: one, delivery: d, writeEvents: $0, writeExpect: nil) }
        let b = try bytes { try Generator.events(tickets: 40_000, options: two, delivery: d, writeEvents: $0, writeExpect: nil) }
        #expect(a == b && a.count > 1_000_000)
        let s1 = try bytes { try Generator.snapshot(rows: 40_000, format: .csv, options: one, write: $0) }
        let s2 = try bytes { try Generator.snapshot(rows: 40_000, format: .csv, options: two, write: $0) }
        #expect(s1 == s2)
        var other = one
        other.seed = 43
        #expect(try bytes { try Generator.snapshot(rows: 1000, format: .csv, options: other, write: $0) } != Array(s1.prefix(1000)))
    }

    /// Delivered in any order, late and repeated, the events merge to `--expect`; every event
    /// passes the daemon's decoder (a create sets every required column).
    @Test func theStreamMergesToItsExpectedStates() throws {
        let seed = testSeed("theStreamMergesToItsExpectedStates")
        var o = WorkloadOptions()
        o.seed = seed
        var d = DeliveryOptions()
        (d.shuffle, d.dup, d.concurrent) = (0.2, 0.05, 0.2)
        var expect = [UInt8]()
        let stream = try bytes { sink in try Generator.events(tickets: 2000, options: o, delivery: d, writeEvents: sink, writeExpect: { expect += $0 }) }
        let events = lines(stream)
        var creates = 0, copies = 0
        var seen = Set<[UInt8]>()
        for e in events {
            let decoded = try EventDecoder.decode(e)
            if decoded.op == .create { creates += 1 }
            if !seen.insert(e).inserted { copies += 1 }
        }
        #expect(creates >= 2000 && copies > 0, "seed \(seed)")
        let merged = try merge(events)
        let expected = lines(expect)
        #expect(expected.count == 2000)
        for line in expected {
            let row = try JSONParser.parse(line)
            guard case .integer(let id)? = row["id"], case .object(let columns) = row else { Issue.record("bad expect line"); continue }
            for (name, value) in columns where name != "id" {
                #expect((merged[id]?[name] ?? .null) == value, "seed \(seed): ticket \(id) \(name)")
            }
        }
        // Tickets in the statuses of a ticket's life.
        let statuses = Set(expected.compactMap { line -> String? in if case .string(let s)? = try? JSONParser.parse(line)["status"] { return s }; return nil })
        #expect(statuses.isSuperset(of: ["open", "solved", "closed"]), "\(statuses)")
    }

    /// Without concurrent steps, a snapshot row is the final state of the same ticket's events.
    @Test func aSnapshotIsTheEventsFinalState() throws {
        var d = DeliveryOptions()
        d.concurrent = 0
        var expect = [UInt8]()
        _ = try bytes { sink in try Generator.events(tickets: 3000, options: WorkloadOptions(), delivery: d, writeEvents: sink, writeExpect: { expect += $0 }) }
        let snapshot = try bytes { try Generator.snapshot(rows: 3000, format: .ndjson, options: WorkloadOptions(), write: $0) }
        #expect(snapshot == expect)
        let csv = lines(try bytes { try Generator.snapshot(rows: 5, format: .csv, options: WorkloadOptions(), write: $0) })
        #expect(String(decoding: csv[0], as: UTF8.self) == Tables.tickets.columns.map(\.name).joined(separator: ","))
        #expect(csv.count == 6)
    }

    @Test func badOptionsAreRefusedByName() {
        var o = WorkloadOptions()
        o.days = 0
        #expect(throws: WorkloadError.self) { try Generator.snapshot(rows: 1, format: .csv, options: o) { _ in } }
        var d = DeliveryOptions()
        d.shuffle = 1.5
        do {
            try Generator.events(tickets: 1, options: WorkloadOptions(), delivery: d, writeEvents: { _ in }, writeExpect: nil)
            Issue.record("a shuffle of 1.5 was accepted")
        } catch { #expect("\(error)".contains("--shuffle must be a fraction")) }
        #expect(throws: WorkloadError.self) { try Generator.events(tickets: Generator.maxEventTickets + 1, options: WorkloadOptions(), delivery: DeliveryOptions(), writeEvents: { _ in }, writeExpect: nil) }
    }

    @Test func requestsSplitAtLineEnds() {
        let body = Array("a\nb\n\nc\nd".utf8)
        let r = LoadRunner.requests(body, bulk: 2)
        #expect(r.map(\.lines) == [2, 2])
        #expect(r.map { String(decoding: body[$0.range], as: UTF8.self) } == ["a\nb", "\nc\nd"])
        #expect(LoadRunner.requests([], bulk: 3).isEmpty)
    }
}


#if canImport(Glibc)
import Glibc
#endif
