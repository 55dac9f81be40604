import StrataCore
import SystemSupport

/// The help-desk workload's constants: the contract of docs/workload.md (the same schema,
/// event format and merge rule as the shared reference generator). Changing a weight here
/// changes every generated file; the tests compare against answers computed on the same
/// files, so no expected number is written down anywhere.
enum WorkloadModel {
    static let statuses = Tables.ticketStatuses
    static let priorities = Tables.ticketPriorities
    static let priorityWeights: [Double] = [20, 55, 20, 5]
    static let channels = Tables.ticketChannels
    static let channelWeights: [Double] = [35, 25, 20, 10, 8, 2]
    static let queues = ["billing", "technical", "sales", "refunds", "shipping", "account",
                         "returns", "warranty", "onboarding", "security", "api", "mobile",
                         "invoices", "partners", "enterprise", "feedback"]
    static let tags = ["refund", "vip", "bug", "outage", "invoice", "password", "login", "delivery",
                       "damaged", "late", "upgrade", "downgrade", "cancel", "trial", "discount",
                       "complaint", "praise", "feature_request", "gdpr", "spam", "duplicate",
                       "escalated", "callback", "chargeback", "fraud", "shipping_address", "sso",
                       "2fa", "android", "ios", "desktop", "api_key", "webhook", "export", "import",
                       "billing_cycle", "tax", "coupon", "urgent_followup", "survey"]
    /// Subject templates; `{n}` becomes a six-digit number.
    static let subjects = ["Refund request for order #{n}", "Cannot log in to account {n}",
                           "Package {n} has not arrived", "Invoice {n} shows the wrong amount",
                           "App crashes when opening screen {n}", "How do I change plan {n}?",
                           "Damaged item in shipment {n}", "Password reset link {n} expired",
                           "Question about pricing tier {n}", "API returns 500 for request {n}",
                           "Wrong size delivered, order {n}", "Please cancel subscription {n}",
                           "Two-factor code {n} not received", "Data export {n} is incomplete",
                           "Charged twice for order {n}", "Feature request: {n}"]
    /// Each template split at its `{n}`.
    static let subjectParts: [(String, String)] = subjects.map { t in
        let b = Array(t.utf8)
        for i in 0..<(b.count - 2) where b[i] == 123 && b[i + 1] == 110 && b[i + 2] == 125 {
            return (String(decoding: b[..<i], as: UTF8.self), String(decoding: b[(i + 3)...], as: UTF8.self))
        }
        return (t, "")
    }
    /// `--routing`: the subject templates (indexes into `subjects`) and tags of each queue.
    static let queueSubjects: [[Int]] = [
        [3, 14, 8], [4, 9, 13], [8, 5, 15], [0, 14], [2, 6, 10], [1, 7, 12], [10, 6, 0], [6, 4],
        [5, 8, 1], [12, 7, 1], [9, 13], [4, 12], [3, 14], [8, 15], [13, 9, 5], [15, 4]]
    static let queueTags: [[String]] = [
        ["invoice", "billing_cycle", "tax"], ["bug", "outage", "desktop"], ["upgrade", "trial", "discount"],
        ["refund", "chargeback"], ["delivery", "late", "shipping_address"], ["login", "password"],
        ["damaged", "refund"], ["damaged", "bug"], ["trial", "import"], ["2fa", "sso", "fraud"],
        ["api_key", "webhook", "export"], ["android", "ios"], ["invoice", "tax", "coupon"],
        ["discount", "upgrade"], ["sso", "export", "escalated"], ["feature_request", "praise", "complaint"]]
    static let agents = 400
    static let customers = 2_000_000
    static let dayMs: Int64 = 86_400_000
    static let hourMs: Int64 = 3_600_000
    /// Tickets created per hour of the day, relative.
    static let hourWeights: [Double] = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 8, 9, 10, 10, 9, 7, 5, 4, 3, 2, 2, 1]
    /// 2026-11-01T00:00:00Z, the end of the default window.
    static let defaultEndMs: Int64 = 1_793_491_200_000
}

/// Who writes: the service replicas, people and automation. Compared as byte strings
/// by the merge rule, so `rank` is their byte order.
enum Writer: UInt8, CaseIterable, Sendable {
    case admin, agent, automation, customer, svc1, svc2, svc3

    var name: String {
        switch self {
        case .admin: return "admin"
        case .agent: return "agent"
        case .automation: return "automation"
        case .customer: return "customer"
        case .svc1: return "svc-1"
        case .svc2: return "svc-2"
        case .svc3: return "svc-3"
        }
    }

    /// The declaration order is the byte order of the names.
    var rank: UInt8 { rawValue }

    /// The service replica that creates ticket `id`.
    static func service(for id: Int64) -> Writer { [.svc1, .svc2, .svc3][Int(id % 3)] }
}

/// Sampling over 1...n with weight 1/k^s (a cumulative table, binary search).
struct Zipf: Sendable {
    let cumulative: [Double]

    init(n: Int, s: Double) {
        var acc = 0.0
        var c = [Double]()
        c.reserveCapacity(n)
        for k in 1...n {
            acc += 1.0 / pow(Double(k), s)
            c.append(acc)
        }
        cumulative = c
    }

    func draw(_ rng: inout WorkloadRandom) -> Int {
        let x = rng.double() * cumulative[cumulative.count - 1]
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return lo + 1
    }
}

/// The seeded generator of the workload: SplitMix64, with the draws the story needs.
struct WorkloadRandom {
    var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// The stream of ticket `id` under `seed`: every ticket draws from its own stream, so
    /// that tickets can be made on several threads and still come out the same.
    init(seed: UInt64, ticket id: Int64) {
        var z = seed &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: id)
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        generator = SplitMix64(seed: z ^ (z >> 33))
    }

    mutating func next() -> UInt64 { generator.next() }

    /// Uniform in [0, 1).
    mutating func double() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in 0..<n.
    mutating func below(_ n: Int64) -> Int64 {
        precondition(n > 0)
        return Int64(next() % UInt64(n))
    }

    /// An index drawn with the given (relative) weights.
    mutating func choose(_ weights: [Double]) -> Int {
        var total = 0.0
        for w in weights { total += w }
        var x = double() * total
        for (i, w) in weights.enumerated() {
            if x < w { return i }
            x -= w
        }
        return weights.count - 1
    }

    /// exp of a normal draw (Box-Muller): the lognormal of Python's `lognormvariate`.
    mutating func lognormal(mu: Double, sigma: Double) -> Double {
        let u1 = 1.0 - double(), u2 = double()
        let z = (-2.0 * log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
        return exp(mu + sigma * z)
    }
}

#if canImport(Glibc)
import Glibc
#endif
