import HotTier
import StrataCore
import SystemSupport
import Workload

/// The project's generated write stream (`strata generate events`): its NDJSON lines, and
/// the final state each ticket must converge to (the generator's expect file).
public struct GeneratedStream: Sendable {
    public let lines: [[UInt8]]
    public let expected: ExpectedTickets

    /// Generates `tickets` tickets' events into `dir` (events.ndjson, expect.ndjson).
    public static func make(tickets: Int, shuffle: Double = 0.05, dup: Double = 0.01, concurrent: Double = 0.05, in dir: String) throws -> GeneratedStream {
        let ev = dir + "/events.ndjson", ex = dir + "/expect.ndjson"
        var d = DeliveryOptions()
        (d.shuffle, d.dup, d.concurrent) = (shuffle, dup, concurrent)
        try Generator.writeEvents(tickets: tickets, delivery: d, to: ev, expect: ex)
        return try make(fromFiles: ev, expect: ex)
    }

    public static func make(fromFiles ev: String, expect ex: String) throws -> GeneratedStream {
        guard let events = readWholeFile(ev), let expect = readWholeFile(ex) else {
            throw TestingFailure(description: "cannot read \(ev) or \(ex)")
        }
        return GeneratedStream(lines: events.split(separator: 0x0A).map { Array($0) }, expected: try ExpectedTickets(ndjson: expect))
    }

    /// The lines decoded as events.
    public func events() throws -> [TicketEvent] {
        try lines.map { try EventDecoder.decode($0) }
    }

    /// Bulk bodies of `size` lines each.
    public func bulks(_ lines: ArraySlice<[UInt8]>? = nil, size: Int) -> [[UInt8]] {
        let lines = lines ?? self.lines[...]
        return stride(from: lines.startIndex, to: lines.endIndex, by: size).map { start in
            lines[start..<min(start + size, lines.endIndex)].joined(separator: [0x0A]).map { $0 }
        }
    }
}
