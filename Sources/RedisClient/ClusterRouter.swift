#if canImport(Glibc)
import Glibc
#endif
import SystemSupport
import Dispatch
import Synchronization
import StrataCore

/// Routes commands over a Redis Cluster: the slot map read from any node (`CLUSTER SLOTS`),
/// each command sent to the master of its key's slot, one pipeline per node (the nodes in
/// parallel), replies put back in the callers' order. `MOVED` updates the map and resends,
/// `ASK` resends once with `ASKING` to the importing node, `TRYAGAIN` and `CLUSTERDOWN`
/// wait and resend, and a node that cannot be reached makes the map be read again (after a
/// failover its replica answers for its slots). Resending is safe for Strata: every write is
/// a merge that a repeat does not change (docs/hot-tier.md).
final class ClusterRouter: Sendable {
    struct Node: Sendable {
        let name: String  // host:port
        let pool: RedisPool
    }

    struct Map: Sendable {
        /// The master of each slot: an index into `nodes`, or -1 when no node serves it.
        var owner = [Int16](repeating: -1, count: ClusterSlot.count)
        var nodes: [Node] = []
        var refreshedAt = 0.0
    }

    let seeds: [RedisEndpoint]
    let options: RedisPool.Options
    /// After a write, `WAIT replicas timeout` on each node written (strict durability on a
    /// cluster with replicas: acknowledged means also on a replica, so a failover keeps it).
    let waitReplicas: Int
    let waitTimeoutMs: Int
    let redirections = Atomic<Int>(0)
    let refreshes = Atomic<Int>(0)
    private let map = Mutex(Map())
    /// Every pool ever made, by node name (kept across map changes: a node may come back).
    private let pools = Mutex([String: RedisPool]())
    static let maxAttempts = 12

    init(seeds: [RedisEndpoint], options: RedisPool.Options, waitReplicas: Int, waitTimeoutMs: Int) {
        precondition(!seeds.isEmpty)
        self.seeds = seeds
        self.options = options
        self.waitReplicas = waitReplicas
        self.waitTimeoutMs = waitTimeoutMs
    }

    var nodes: [Node] { map.withLock { $0.nodes } }

    func pool(for name: String, like template: RedisEndpoint) -> RedisPool {
        pools.withLock { p in
            if let existing = p[name] { return existing }
            let parts = name.split(separator: ":")
            let endpoint = RedisEndpoint(address: .tcp(host: String(parts.dropLast().joined(separator: ":")), port: Int(parts.last!) ?? 6379),
                                         username: template.username, password: template.password)
            let made = RedisPool(endpoint: endpoint, options: options)
            p[name] = made
            return made
        }
    }

    /// Reads the slot map from the first node that answers: known masters, then the seeds.
    func refresh() throws {
        refreshes.add(1, ordering: .relaxed)
        let candidates = nodes.map(\.pool) + seeds.map { seed in pool(for: Self.name(seed), like: seed) }
        var lastError = "no node answered"
        for candidate in candidates {
            do {
                let reply = try candidate.pipelineBlocking([[Array("CLUSTER".utf8), Array("SLOTS".utf8)]])[0]
                let next = try parse(reply, askedHost: candidate.endpoint)
                map.withLock { $0 = next }
                return
            } catch {
                lastError = "\(candidate.endpoint): \(error)"
            }
        }
        throw RedisError.unavailable("cannot read the cluster's slot map (\(lastError))")
    }

    static func name(_ e: RedisEndpoint) -> String {
        if case .tcp(let h, let p) = e.address { return "\(h):\(p)" }
        return e.description
    }

    /// `CLUSTER SLOTS`: [[start, end, [host, port, id], replicas…]…].
    func parse(_ reply: RESPValue, askedHost: RedisEndpoint) throws -> Map {
        guard case .array(let ranges) = reply else { throw RedisError.protocolError("CLUSTER SLOTS answered \(reply)") }
        var m = Map()
        var index = [String: Int]()
        let fallbackHost: String = { if case .tcp(let h, _) = askedHost.address { return h }; return "127.0.0.1" }()
        for r in ranges {
            guard case .array(let parts) = r, parts.count >= 3, case .integer(let start) = parts[0], case .integer(let end) = parts[1],
                  case .array(let master) = parts[2], master.count >= 2, case .integer(let port) = master[1],
                  start >= 0, end < ClusterSlot.count, start <= end else {
                throw RedisError.protocolError("unexpected CLUSTER SLOTS entry \(r)")
            }
            var host = fallbackHost
            if case .bulk(let h) = master[0], !h.isEmpty, h != Array("?".utf8) { host = String(decoding: h, as: UTF8.self) }
            let name = "\(host):\(port)"
            let k: Int
            if let known = index[name] { k = known } else {
                k = m.nodes.count
                index[name] = k
                m.nodes.append(Node(name: name, pool: pool(for: name, like: askedHost)))
            }
            for s in Int(start)...Int(end) { m.owner[s] = Int16(k) }
        }
        guard !m.nodes.isEmpty else { throw RedisError.unavailable("the cluster serves no slots") }
        m.refreshedAt = monotonicSeconds()
        return m
    }

    /// One pipeline per node, in parallel; replies in the order of `commands`.
    func pipeline(_ commands: [RESPCommand]) throws -> [RESPValue] {
        precondition(commands.allSatisfy { $0.replies == 1 }, "a command built of several (RESPCommand.Builder.next) cannot be routed")
        if nodes.isEmpty { try refresh() }
        var replies = [RESPValue?](repeating: nil, count: commands.count)
        var pending = Array(commands.indices)
        /// Commands to resend with ASKING first, and to which node.
        var asking = [Int: String]()
        var lastProblem = ""
        for attempt in 0..<Self.maxAttempts {
            if pending.isEmpty { break }
            if attempt > 0 && !lastProblem.isEmpty {
                // A node gone or a slot without a master: back off (a failover takes a few
                // seconds) and read the map again. Redirections alone are resent at once.
                usleep(useconds_t(min(50_000 * (1 << min(attempt - 1, 5)), 1_000_000)))
                try? refresh()
            }
            let current = map.withLock { $0 }
            // Group by node: (node name, pool) → command indices.
            var groups = [String: (pool: RedisPool, items: [Int])]()
            var unroutable = [Int]()
            for i in pending {
                if let target = asking[i] {
                    groups[target, default: (pool(for: target, like: seeds[0]), [])].items.append(i)
                    continue
                }
                if commands[i].broadcast {
                    for node in current.nodes { groups[node.name, default: (node.pool, [])].items.append(i) }
                    continue
                }
                let owner: Int
                if let key = commands[i].key { owner = Int(current.owner[ClusterSlot.of(key: key)]) } else { owner = current.nodes.isEmpty ? -1 : 0 }
                if owner < 0 { unroutable.append(i); continue }
                let node = current.nodes[owner]
                groups[node.name, default: (node.pool, [])].items.append(i)
            }
            let work = groups.map { (name: $0.key, pool: $0.value.pool, items: $0.value.items) }
            let results = Mutex([String: Result<[RESPValue], any Error>]())
            let askingNow = asking
            let send = { @Sendable (w: (name: String, pool: RedisPool, items: [Int])) in
                var batch = [RESPCommand]()
                var positions = [Int]()  // where each item's reply is in the batch
                for i in w.items {
                    if askingNow[i] == w.name { batch.append(Self.asking) }
                    positions.append(batch.count)
                    batch.append(commands[i])
                }
                let writes = self.waitReplicas > 0 && w.items.contains { commands[$0].key != nil }
                if writes { batch.append(RESPCommand(["WAIT", String(self.waitReplicas), String(self.waitTimeoutMs)].map { Array($0.utf8) })) }
                let outcome = Result { () throws -> [RESPValue] in
                    let all = try w.pool.pipelineBlocking(batch)
                    if writes {
                        // Anything but enough replicas (fewer, or an error such as a node
                        // demoted mid-pipeline) is not an acknowledgement.
                        guard case .integer(let acked) = all.last!, acked >= self.waitReplicas else {
                            throw WaitShortfall(message: "\(w.name): WAIT answered \(all.last!) (needed \(self.waitReplicas) replica(s) within \(self.waitTimeoutMs) ms)")
                        }
                    }
                    return positions.map { all[$0] }
                }
                results.withLock { $0[w.name] = outcome }
            }
            if work.count == 1 { send(work[0]) } else { DispatchQueue.concurrentPerform(iterations: work.count) { send(work[$0]) } }
            var next = unroutable
            lastProblem = unroutable.isEmpty ? "" : "slots without a master"
            var seen = Set<Int>()
            asking = [:]
            for w in work {
                switch results.withLock({ $0[w.name]! }) {
                case .failure(let e as WaitShortfall):
                    // Applied on the master but not (yet) on a replica: not acknowledged, and
                    // resending would not help until a replica is back. The caller retries.
                    throw RedisError.unavailable(e.message)
                case .failure(let e):
                    lastProblem = "\(w.name): \(e)"
                    for i in w.items where seen.insert(i).inserted { next.append(i) }
                case .success(let got):
                    for (i, reply) in zip(w.items, got) {
                        if case .error(let m) = reply, let redirect = Self.redirect(m) {
                            redirections.add(1, ordering: .relaxed)
                            w.pool.stats.redirections.add(1, ordering: .relaxed)
                            if redirect.ask { asking[i] = redirect.node } else {
                                map.withLock { $0.owner[redirect.slot] = Int16($0.nodes.firstIndex { $0.name == redirect.node } ?? -1) }
                                if !nodes.contains(where: { $0.name == redirect.node }) { lastProblem = "moved to a node not in the map" }
                            }
                            if seen.insert(i).inserted { next.append(i) }
                            continue
                        }
                        if case .error(let m) = reply, m.hasPrefix("TRYAGAIN") || m.hasPrefix("CLUSTERDOWN") {
                            lastProblem = m
                            if seen.insert(i).inserted { next.append(i) }
                            continue
                        }
                        // A broadcast keeps the first answer, unless another node's is an error.
                        if replies[i] == nil { replies[i] = reply } else if case .error = reply { replies[i] = reply }
                    }
                }
            }
            pending = next
            for i in pending { replies[i] = nil }
        }
        guard pending.isEmpty else {
            throw RedisError.unavailable("the cluster did not take \(pending.count) command(s) after \(Self.maxAttempts) attempts (\(lastProblem))")
        }
        return replies.map { $0! }
    }

    static let asking = RESPCommand([Array("ASKING".utf8)])

    /// `MOVED 3999 127.0.0.1:6381` / `ASK 3999 127.0.0.1:6381`.
    static func redirect(_ message: String) -> (ask: Bool, slot: Int, node: String)? {
        let parts = message.split(separator: " ")
        guard parts.count == 3, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]), slot >= 0, slot < ClusterSlot.count else { return nil }
        return (parts[0] == "ASK", slot, String(parts[2]))
    }
}

/// Strict durability on a cluster: fewer replicas than required had a pipeline's writes.
struct WaitShortfall: Error {
    let message: String
}
