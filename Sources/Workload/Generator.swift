import Dispatch
import StrataCore

/// Settings shared by both modes of the generator.
public struct WorkloadOptions: Sendable {
    public var seed: UInt64 = 42
    /// Length of the creation window, in days (1...3650).
    public var days = 90
    /// End of the window (ms): no event at or after it.
    public var endMs = WorkloadModel.defaultEndMs
    /// Subjects and tags follow the queue; the queue's team answers most tickets.
    public var routing = false
    /// Worker threads (tickets are made in chunks, each from its own random streams).
    public var threads = 2
    public init() {}

    public static let maxDays = 3650
}

/// How the event stream is delivered.
public struct DeliveryOptions: Sendable {
    /// Fraction of events delivered late (up to 200 places).
    public var shuffle = 0.0
    /// Fraction of events delivered twice (the copy up to 500 places later).
    public var dup = 0.0
    /// Chance that a customer or admin step acts on a stale view (a concurrent vector).
    public var concurrent = 0.05
    public init() {}
}

public enum SnapshotFormat: String, CaseIterable, Sendable {
    case csv, ndjson
}

/// Why the generator refused its arguments.
public struct WorkloadError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// The help-desk workload (docs/workload.md): tickets as an export would hold them
/// (`snapshot`), or the stream of writes a ticket service sends (`events`) with the
/// final states those writes converge to. Same options and seed, same bytes, whatever
/// the thread count: each ticket draws from its own random stream.
public enum Generator {
    public static let maxSnapshotRows = 1_000_000_000
    /// Events are put in delivery order in memory (about 250 bytes each).
    public static let maxEventTickets = 4_000_000
    static let chunkTickets = 32_768

    static func check(_ o: WorkloadOptions) throws {
        guard o.days >= 1 && o.days <= WorkloadOptions.maxDays else { throw WorkloadError("--days must be 1...\(WorkloadOptions.maxDays), got \(o.days)") }
        guard o.threads >= 1 && o.threads <= 64 else { throw WorkloadError("--threads must be 1...64, got \(o.threads)") }
        guard o.endMs - Int64(o.days) * WorkloadModel.dayMs > 0 else { throw WorkloadError("the window must start after 1970") }
    }

    /// Writes `rows` tickets (ids 1...rows) in their final state; `write` receives the
    /// bytes in order, a chunk at a time.
    public static func snapshot(rows: Int, format: SnapshotFormat, options: WorkloadOptions, write: ([UInt8]) throws -> Void) throws {
        try check(options)
        guard rows >= 0 && rows <= maxSnapshotRows else { throw WorkloadError("--rows must be 0...\(maxSnapshotRows), got \(rows)") }
        let tables = StoryTables.shared
        let story = TicketStory(tables: tables, endMs: options.endMs, routing: options.routing)
        if format == .csv {
            var header = [UInt8]()
            WorkloadText.csvHeader(to: &header)
            try write(header)
        }
        let chunks = (rows + chunkTickets - 1) / chunkTickets
        let wave = options.threads * 2
        for first in stride(from: 0, to: chunks, by: wave) {
            let count = min(wave, chunks - first)
            let parts = parallelMap(count, threads: options.threads) { k -> [UInt8] in
                let lo = (first + k) * chunkTickets + 1, hi = min(rows, (first + k + 1) * chunkTickets)
                var out = [UInt8]()
                out.reserveCapacity((hi - lo + 1) * 200)
                for id in Int64(lo)...Int64(hi) {
                    let row = finalRow(id: id, story: story, options: options)
                    if format == .csv { WorkloadText.csvRecord(row, to: &out) } else { WorkloadText.jsonRow(row, to: &out) }
                }
                return out
            }
            for p in parts { try write(p) }
        }
    }

    /// One ticket's final state, its steps applied in causal order.
    static func finalRow(id: Int64, story: TicketStory, options: WorkloadOptions) -> [FieldValue] {
        var rng = WorkloadRandom(seed: options.seed, ticket: id)
        let created = story.creationTime(&rng, days: options.days)
        var ticket = ReferenceTicket(id: id)
        for step in story.steps(&rng, id: id, created: created) {
            var v = ticket.vector
            if let i = v.firstIndex(where: { $0.writer == step.writer }) { v[i].count += 1 } else { v.append((step.writer, 1)) }
            ticket.apply(writer: step.writer, vector: v, fields: step.fields, at: step.at)
        }
        return ticket.row
    }

    /// What `events` made.
    public struct EventCounts: Sendable {
        public var tickets = 0
        /// Lines written, copies included.
        public var events = 0
        public var duplicates = 0
    }

    /// Writes the event stream of `tickets` tickets in delivery order to `writeEvents`,
    /// and, if given, their final states (NDJSON, by id) to `writeExpect`.
    @discardableResult
    public static func events(tickets: Int, options: WorkloadOptions, delivery: DeliveryOptions,
                              writeEvents: ([UInt8]) throws -> Void, writeExpect: (([UInt8]) throws -> Void)?) throws -> EventCounts {
        try check(options)
        guard tickets >= 0 && tickets <= maxEventTickets else { throw WorkloadError("--tickets must be 0...\(maxEventTickets), got \(tickets)") }
        for (name, p) in [("--shuffle", delivery.shuffle), ("--dup", delivery.dup), ("--concurrent", delivery.concurrent)] {
            guard p >= 0 && p <= 1 else { throw WorkloadError("\(name) must be a fraction in 0...1, got \(p)") }
        }
        let tables = StoryTables.shared
        let story = TicketStory(tables: tables, endMs: options.endMs, routing: options.routing)
        let chunks = (tickets + chunkTickets - 1) / chunkTickets
        let made = parallelMap(chunks, threads: options.threads) { k in
            eventChunk(Int64(k * chunkTickets + 1)...Int64(min(tickets, (k + 1) * chunkTickets)), chunk: k, story: story, options: options, delivery: delivery)
        }
        var order = [EventRecord]()
        order.reserveCapacity(made.reduce(0) { $0 + $1.records.count })
        for m in made { order += m.records }
        order.sort { ($0.at, $0.id, $0.step) < ($1.at, $1.id, $1.step) }
        var rng = WorkloadRandom(seed: options.seed ^ 0xD311_7E2E_0F5E_ED00)
        let n = order.count
        if delivery.shuffle > 0 && n > 1 {
            for i in 0..<n where rng.double() < delivery.shuffle {
                order.swapAt(i, min(n - 1, i + 1 + Int(rng.below(199))))
            }
        }
        var copies = [(after: Int, slot: Int, index: Int)]()
        if delivery.dup > 0 {
            for i in 0..<n where rng.double() < delivery.dup { copies.append((i + 1 + Int(rng.below(500)), i, i)) }
            copies.sort { ($0.after, $0.slot) < ($1.after, $1.slot) }
        }
        var counts = EventCounts(tickets: tickets, events: n + copies.count, duplicates: copies.count)
        var out = [UInt8]()
        out.reserveCapacity(1 << 20)
        var c = 0
        func put(_ r: EventRecord) {
            out.append(contentsOf: made[Int(r.chunk)].text[Int(r.offset)..<Int(r.offset + r.length)])
        }
        for i in 0..<n {
            put(order[i])
            // A copy keyed i+1+r+0.5 goes right after the original at position i+1+r.
            while c < copies.count && copies[c].after == i { put(order[copies[c].index]); c += 1 }
            if out.count >= 1 << 20 { try writeEvents(out); out.removeAll(keepingCapacity: true) }
        }
        while c < copies.count { put(order[copies[c].index]); c += 1 }
        if !out.isEmpty { try writeEvents(out) }
        if let writeExpect { for m in made { try writeExpect(m.expect) } }
        counts.events = n + copies.count
        return counts
    }

    struct EventRecord {
        var at: Int64
        var id: Int64
        var step: Int32
        var chunk: Int32
        var offset: Int32
        var length: Int32
    }

    struct EventChunk {
        var records: [EventRecord] = []
        var text: [UInt8] = []
        var expect: [UInt8] = []
    }

    static func eventChunk(_ ids: ClosedRange<Int64>, chunk: Int, story: TicketStory, options: WorkloadOptions, delivery: DeliveryOptions) -> EventChunk {
        var out = EventChunk()
        guard ids.lowerBound <= ids.upperBound else { return out }
        out.text.reserveCapacity(ids.count * 6 * 190)
        for id in ids {
            var rng = WorkloadRandom(seed: options.seed, ticket: id)
            let created = story.creationTime(&rng, days: options.days)
            var ticket = ReferenceTicket(id: id)
            var previous: [(writer: Writer, count: Int64)] = []
            for (i, step) in story.steps(&rng, id: id, created: created).enumerated() {
                let w = step.writer
                // Now and then a writer acts on a stale view: concurrent with the step before.
                let stale = i >= 2 && (w == .customer || w == .admin) && rng.double() < delivery.concurrent
                var v = stale ? previous : ticket.vector
                let own = max(v.first { $0.writer == w }?.count ?? 0, ticket.count(of: w)) + 1
                if let k = v.firstIndex(where: { $0.writer == w }) { v[k].count = own } else { v.append((w, own)) }
                previous = ticket.vector
                ticket.apply(writer: w, vector: v, fields: step.fields, at: step.at)
                let start = out.text.count
                WorkloadText.event(create: i == 0, id: id, writer: w, vector: v, fields: step.fields, at: step.at, to: &out.text)
                out.records.append(EventRecord(at: step.at, id: id, step: Int32(i), chunk: Int32(chunk),
                                               offset: Int32(start), length: Int32(out.text.count - start)))
            }
            WorkloadText.jsonRow(ticket.row, to: &out.expect)
        }
        return out
    }

    /// `body(k)` for k in 0..<count on `threads` threads; results in order of k.
    static func parallelMap<T>(_ count: Int, threads: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        guard count > 0 else { return [] }
        let slots = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        slots.initialize(repeating: nil)
        defer {
            _ = slots.deinitialize()  // the results were copied out; release the slots' own references
            slots.deallocate()
        }
        nonisolated(unsafe) let shared = slots
        let next = AtomicCounter()
        DispatchQueue.concurrentPerform(iterations: min(threads, count)) { _ in
            while true {
                let k = next.take()
                guard k < count else { return }
                shared[k] = body(k)
            }
        }
        return slots.map { $0! }
    }
}

import Synchronization

/// A shared counter handing out work items.
final class AtomicCounter: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.add(1, ordering: .relaxed).oldValue }
}
