import StrataCore

/// A field's value in the workload: null clears it; timestamps are ms.
enum FieldValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case text(String)
    case time(Int64)
}

/// Column indexes of `Tables.tickets`, looked up once.
enum Column {
    static let id = index("id"), createdAt = index("created_at"), updatedAt = index("updated_at")
    static let firstResponseAt = index("first_response_at"), solvedAt = index("solved_at"), closedAt = index("closed_at")
    static let status = index("status"), priority = index("priority"), channel = index("channel"), queue = index("queue")
    static let agentID = index("agent_id"), customerID = index("customer_id"), subject = index("subject"), tags = index("tags")
    static let satisfaction = index("satisfaction"), reopenCount = index("reopen_count"), version = index("version")
    static let count = Tables.tickets.columns.count

    static func index(_ name: String) -> Int {
        guard let i = Tables.tickets.index(of: name) else { preconditionFailure("tickets has no column \(name)") }
        return i
    }
}

/// One step in the life of a ticket: who changed what, when. `fields` never holds
/// `updated_at`, which every event carries as `at`.
struct Step {
    var at: Int64
    var writer: Writer
    var fields: [(column: Int, value: FieldValue)]
}

/// The shared tables of one run (built once, read by every thread).
struct StoryTables: Sendable {
    let agents = Zipf(n: WorkloadModel.agents, s: 1.1)
    let customers = Zipf(n: WorkloadModel.customers, s: 0.6)
    let queues = Zipf(n: WorkloadModel.queues.count, s: 0.9)
    /// Built once per process (the customer table has 2,000,000 entries).
    static let shared = StoryTables()
}

/// The life of a ticket, as the contract describes it: created by a service replica,
/// answered by an agent, waiting on the customer, solved, rated, reopened, closed.
struct TicketStory {
    let tables: StoryTables
    let endMs: Int64
    let routing: Bool

    /// Creation times over `days` days ending at `endMs`, with a daily and weekly rhythm.
    func creationTime(_ rng: inout WorkloadRandom, days: Int) -> Int64 {
        let start = endMs - Int64(days) * WorkloadModel.dayMs
        var day: Int64
        while true {
            day = rng.below(Int64(days))
            let weekday = (floorDiv(start, WorkloadModel.dayMs) + day + 3) % 7  // Monday 0: 1970-01-01 was a Thursday
            if weekday >= 5 && rng.double() < 0.55 { continue }  // quieter weekends
            break
        }
        let hour = Int64(rng.choose(WorkloadModel.hourWeights))
        return start + day * WorkloadModel.dayMs + hour * WorkloadModel.hourMs + rng.below(WorkloadModel.hourMs)
    }

    private func teamAgent(_ rng: inout WorkloadRandom, queue: Int) -> Int64 {
        if rng.double() < 0.85 {
            let teamSize = WorkloadModel.agents / WorkloadModel.queues.count
            let rank = tables.agents.draw(&rng) % teamSize
            return Int64(1 + queue + rank * WorkloadModel.queues.count)
        }
        return Int64(tables.agents.draw(&rng))
    }

    private func subject(_ rng: inout WorkloadRandom, template: Int) -> String {
        let n = 100_000 + rng.below(900_000)
        let (prefix, suffix) = WorkloadModel.subjectParts[template]
        return prefix + String(n) + suffix
    }

    private func duration(_ rng: inout WorkloadRandom, hours: Double, sigma: Double) -> Int64 {
        Int64(rng.lognormal(mu: log(hours * Double(WorkloadModel.hourMs)), sigma: sigma))
    }

    /// The steps of ticket `id` created at `created`, in causal order; none at or after `endMs`.
    func steps(_ rng: inout WorkloadRandom, id: Int64, created: Int64) -> [Step] {
        let priority = rng.choose(WorkloadModel.priorityWeights)
        let channel = rng.choose(WorkloadModel.channelWeights)
        let queue = tables.queues.draw(&rng) - 1
        let tagCount = rng.choose([30, 40, 20, 10])
        var picked = [String]()
        let subjectText: String
        if routing {
            let own = WorkloadModel.queueTags[queue]
            for _ in 0..<tagCount {
                let t = rng.double() < 0.7 ? own[Int(rng.below(Int64(own.count)))] : WorkloadModel.tags[Int(rng.below(Int64(WorkloadModel.tags.count)))]
                if !picked.contains(t) { picked.append(t) }
            }
            let templates = WorkloadModel.queueSubjects[queue]
            let template = rng.double() < 0.8 ? templates[Int(rng.below(Int64(templates.count)))] : Int(rng.below(Int64(WorkloadModel.subjects.count)))
            subjectText = subject(&rng, template: template)
        } else {
            var pool = WorkloadModel.tags
            for k in 0..<tagCount {  // a partial Fisher-Yates: tagCount distinct tags
                let j = k + Int(rng.below(Int64(pool.count - k)))
                pool.swapAt(k, j)
                picked.append(pool[k])
            }
            subjectText = subject(&rng, template: Int(rng.below(Int64(WorkloadModel.subjects.count))))
        }
        picked.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var steps = [Step(at: created, writer: Writer.service(for: id), fields: [
            (Column.createdAt, .time(created)), (Column.status, .text("new")),
            (Column.priority, .text(WorkloadModel.priorities[priority])), (Column.channel, .text(WorkloadModel.channels[channel])),
            (Column.queue, .text(WorkloadModel.queues[queue])), (Column.customerID, .integer(Int64(tables.customers.draw(&rng)))),
            (Column.subject, .text(subjectText)), (Column.tags, .text(picked.joined(separator: ","))),
            (Column.reopenCount, .integer(0)),
        ])]
        var speed = [2.0, 1.0, 0.4, 0.15][priority]
        var t = created + duration(&rng, hours: 2 * speed, sigma: 1.0)
        if t >= endMs { return steps }
        var agent = routing ? teamAgent(&rng, queue: queue) : Int64(tables.agents.draw(&rng))
        let onTeam = { (a: Int64) in Int((a - 1) % Int64(WorkloadModel.queues.count)) == queue }
        if routing { speed *= onTeam(agent) ? 0.6 : 1.5 }
        steps.append(Step(at: t, writer: .agent, fields: [(Column.status, .text("open")), (Column.agentID, .integer(agent)), (Column.firstResponseAt, .time(t))]))
        var reopens: Int64 = 0
        while true {
            if rng.double() < 0.35 {  // waits on the customer, or on a third party (on hold)
                t += duration(&rng, hours: 6 * speed, sigma: 1.0)
                if t >= endMs { return steps }
                steps.append(Step(at: t, writer: .agent, fields: [(Column.status, .text(rng.double() < 0.2 ? "on_hold" : "pending"))]))
                t += duration(&rng, hours: 12, sigma: 1.2)
                if t >= endMs { return steps }
                steps.append(Step(at: t, writer: .customer, fields: [(Column.status, .text("open"))]))
            }
            if rng.double() < 0.05 {  // handed to another agent
                agent = Int64(tables.agents.draw(&rng))
                steps.append(Step(at: t + 1000, writer: .admin, fields: [(Column.agentID, .integer(agent))]))
            }
            if rng.double() < 0.04 {
                let p = rng.choose(WorkloadModel.priorityWeights)
                steps.append(Step(at: t + 2000, writer: .admin, fields: [(Column.priority, .text(WorkloadModel.priorities[p]))]))
            }
            t += duration(&rng, hours: 20 * speed, sigma: 1.1)
            if t >= endMs { return steps }
            steps.append(Step(at: t, writer: .agent, fields: [(Column.status, .text("solved")), (Column.solvedAt, .time(t))]))
            if rng.double() < 0.3 {
                let ct = t + duration(&rng, hours: 8, sigma: 1.0)
                if ct >= endMs { return steps }
                var weights: [Double] = [6, 6, 12, 30, 46]
                if routing { weights = onTeam(agent) ? [2, 3, 8, 30, 57] : [14, 12, 18, 28, 28] }
                let score = Int64(rng.choose(weights) + 1)
                steps.append(Step(at: ct, writer: .customer, fields: [(Column.satisfaction, .integer(score))]))
                t = ct
            }
            if reopens < 2 && rng.double() < 0.07 {
                reopens += 1
                t += duration(&rng, hours: 30, sigma: 1.0)
                if t >= endMs { return steps }
                steps.append(Step(at: t, writer: .customer, fields: [(Column.status, .text("open")), (Column.reopenCount, .integer(reopens)), (Column.solvedAt, .null)]))
                continue
            }
            t += 4 * WorkloadModel.dayMs  // auto-close after four days solved
            if t < endMs { steps.append(Step(at: t, writer: .automation, fields: [(Column.status, .text("closed")), (Column.closedAt, .time(t))])) }
            return steps
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
