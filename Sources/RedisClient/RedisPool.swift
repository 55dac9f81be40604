#if canImport(Glibc)
import Glibc
#endif
import SystemSupport
import Dispatch
import Synchronization
import StrataCore

/// Counters for /metrics.
public final class RedisStats: Sendable {
    public let roundTrips = Atomic<Int>(0)
    public let commands = Atomic<Int>(0)
    public let errors = Atomic<Int>(0)
    public let reconnects = Atomic<Int>(0)
    /// MOVED and ASK replies from this node (a cluster node's pool).
    public let redirections = Atomic<Int>(0)
    /// Commands in the largest pipeline sent so far.
    public let maxPipelineDepth = Atomic<Int>(0)
    public init() {}
}

/// A small pool of blocking connections, used from async code through a dedicated
/// dispatch queue so that Redis I/O never blocks Swift's cooperative threads.
/// A broken connection is dropped; new connections are made on demand, with
/// exponential backoff after failures (requests fail fast as `.unavailable` meanwhile).
public final class RedisPool: Sendable {
    public struct Options: Sendable {
        public var maxConnections = 8
        public var connectTimeoutMs = 1000
        public var ioTimeoutMs = 5000
        /// How long a caller waits for a free connection before `.unavailable`.
        public var acquireTimeoutMs = 2000
        public var backoffMinMs = 20
        public var backoffMaxMs = 2000
        public init() {}
    }

    struct State {
        var idle: [RedisConnection] = []
        var failures = 0
        var retryAt = 0.0
        var lastError = ""
    }

    /// The server (for a cluster: the first seed, which only names it in messages).
    public let endpoint: RedisEndpoint
    public let options: Options
    public let stats = RedisStats()
    /// Set for a Redis Cluster: commands are routed by slot to per-node pools.
    let cluster: ClusterRouter?
    private let state = Mutex(State())
    private let slots: DispatchSemaphore
    private let queue = DispatchQueue(label: "strata.redis", attributes: .concurrent)

    public init(endpoint: RedisEndpoint, options: Options = Options()) {
        precondition(options.maxConnections > 0 && options.maxConnections <= 256)
        self.endpoint = endpoint
        self.options = options
        slots = DispatchSemaphore(value: options.maxConnections)
        cluster = nil
    }

    /// A pool over a Redis Cluster, found from any of `seeds`: each command goes to the
    /// master of its key's slot (docs/hot-tier.md, "Redis Cluster"). It is a router in front
    /// of one pool per master: `pipeline` and `command` route, `withConnection` (one
    /// connection to one server) is refused on it. With `waitReplicas` > 0
    /// a pipeline's writes are acknowledged only once that many replicas have them (`WAIT`).
    public init(cluster seeds: [RedisEndpoint], options: Options = Options(), waitReplicas: Int = 0, waitTimeoutMs: Int = 2000) {
        precondition(!seeds.isEmpty && waitReplicas >= 0)
        endpoint = seeds[0]
        self.options = options
        slots = DispatchSemaphore(value: options.maxConnections)
        cluster = ClusterRouter(seeds: seeds, options: options, waitReplicas: waitReplicas, waitTimeoutMs: waitTimeoutMs)
    }

    public var isCluster: Bool { cluster != nil }

    /// Per node of a cluster: its name (host:port) and counters.
    public var clusterNodes: [(name: String, stats: RedisStats)] { cluster?.nodes.map { ($0.name, $0.pool.stats) } ?? [] }
    /// Each master of a cluster and its own pool (the slot map is read first if need be).
    public func clusterMasters() throws -> [(name: String, pool: RedisPool)] {
        guard let cluster else { return [] }
        if cluster.nodes.isEmpty { try cluster.refresh() }
        return cluster.nodes.map { ($0.name, $0.pool) }
    }

    /// MOVED and ASK replies followed, and slot maps read.
    public var clusterRedirections: Int { cluster?.redirections.load(ordering: .relaxed) ?? 0 }
    public var clusterRefreshes: Int { cluster?.refreshes.load(ordering: .relaxed) ?? 0 }

    /// Runs `body` with a connection on the calling thread (blocking). Not on a cluster,
    /// where no one connection reaches every key: use `pipeline`, or a master's own pool.
    public func withConnection<R>(_ body: (RedisConnection) throws -> R) throws -> R {
        guard cluster == nil else {
            throw RedisError.unavailable("withConnection on a Redis Cluster pool: one connection cannot reach every slot (use pipeline, or clusterMasters())")
        }
        guard slots.wait(timeout: .now() + .milliseconds(options.acquireTimeoutMs)) == .success else {
            throw RedisError.unavailable("all \(options.maxConnections) connections busy for \(options.acquireTimeoutMs) ms")
        }
        defer { slots.signal() }
        let connection = try checkout()
        do {
            let result = try body(connection)
            state.withLock { $0.idle.append(connection) }
            return result
        } catch let e as RedisError {
            stats.errors.add(1, ordering: .relaxed)
            if e.breaksConnection {
                connection.close()
                state.withLock { $0.lastError = e.description }
            } else {
                state.withLock { $0.idle.append(connection) }
            }
            throw e
        } catch {
            connection.close()
            throw error
        }
    }

    private func checkout() throws -> RedisConnection {
        let now = monotonicSeconds()
        let (idle, wait, last): (RedisConnection?, Bool, String) = state.withLock { s in
            if let c = s.idle.popLast() { return (c, false, "") }
            return (nil, now < s.retryAt, s.lastError)
        }
        if let idle { return idle }
        if wait { throw RedisError.unavailable("\(endpoint) is unreachable (\(last)); retrying with backoff") }
        do {
            let c = try RedisConnection(endpoint: endpoint, connectTimeoutMs: options.connectTimeoutMs,
                                        ioTimeoutMs: options.ioTimeoutMs)
            stats.reconnects.add(1, ordering: .relaxed)
            state.withLock { $0.failures = 0; $0.retryAt = 0 }
            return c
        } catch {
            stats.errors.add(1, ordering: .relaxed)
            state.withLock { s in
                s.failures += 1
                let delay = min(Double(options.backoffMaxMs), Double(options.backoffMinMs) * Double(1 << min(s.failures, 16))) / 1000
                s.retryAt = monotonicSeconds() + delay
                s.lastError = "\(error)"
            }
            throw error is RedisError ? error : RedisError.connection("\(error)")
        }
    }

    /// One round trip with every command, off the cooperative thread pool.
    public func pipeline(_ commands: [[[UInt8]]]) async throws -> [RESPValue] {
        try await pipeline(commands.map(RESPCommand.init))
    }

    /// The same with commands already encoded (`RESPCommand.Builder`).
    public func pipeline(_ commands: [RESPCommand]) async throws -> [RESPValue] {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<[RESPValue], any Error>) in
            queue.async {
                cont.resume(with: Result { try self.pipelineBlocking(commands) })
            }
        }
    }

    public func pipelineBlocking(_ commands: [[[UInt8]]]) throws -> [RESPValue] {
        try pipelineBlocking(commands.map(RESPCommand.init))
    }

    public func pipelineBlocking(_ commands: [RESPCommand]) throws -> [RESPValue] {
        let replies = try cluster.map { try $0.pipeline(commands) } ?? withConnection { try $0.pipeline(commands) }
        count(commands)
        return replies
    }

    /// One round trip, each reply handed to `each` (its position, in order) as soon as it is
    /// read (`RedisConnection.receive(_:each:)`): the caller's work on a reply overlaps Redis
    /// computing the next. On a Redis Cluster the replies of the nodes are gathered first.
    /// An error `each` throws is thrown after every reply is read.
    public func pipelineBlocking(_ commands: [RESPCommand], each: (Int, RESPValue) throws -> Void) throws {
        if let cluster {
            for (i, r) in try cluster.pipeline(commands).enumerated() { try each(i, r) }
        } else {
            try withConnection { c in
                try c.send(commands)
                try c.receive(commands, each: each)
            }
        }
        count(commands)
    }

    private func count(_ commands: [RESPCommand]) {
        stats.roundTrips.add(1, ordering: .relaxed)
        stats.commands.add(commands.count, ordering: .relaxed)
        var current = stats.maxPipelineDepth.load(ordering: .relaxed)
        while commands.count > current {
            let (exchanged, original) = stats.maxPipelineDepth.compareExchange(expected: current, desired: commands.count, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
    }

    /// The commands as one transaction, `MULTI` … `EXEC`, in one round trip; their replies,
    /// as `EXEC` gives them (an error reply of one command is its reply, as in a pipeline).
    ///
    /// Redis runs a transaction's commands in one pass of its event loop, so they reach the
    /// append-only file in one write, and under `appendfsync always` in one fsync; a plain
    /// pipeline of the same commands is run as Redis reads it, at most 16 KB a pass (more
    /// only inside a large argument), and fsynced after each pass (docs/durability.md, "What strict costs"). On a cluster, where a
    /// transaction holds keys of one slot only, this is a plain pipeline.
    public func transaction(_ commands: [RESPCommand]) async throws -> [RESPValue] {
        guard cluster == nil, !commands.isEmpty else { return try await pipeline(commands) }
        let queued = commands.reduce(0) { $0 + $1.replies }
        let all = try await pipeline([Self.multi] + commands + [Self.exec])
        guard all.count == queued + 2 else { throw RedisError.protocolError("a transaction of \(queued) commands answered \(all.count) replies") }
        switch all[all.count - 1] {
        case .array(let replies) where replies.count == queued:
            return replies
        case .error(let m):
            // EXECABORT: a command was refused when queued; name the first refusal.
            let refused = all[1..<(all.count - 1)].first { if case .error = $0 { return true } else { return false } }
            if case .error(let why)? = refused { throw RedisError.server(command: "EXEC", message: "\(m) (\(why))") }
            throw RedisError.server(command: "EXEC", message: m)
        default:
            throw RedisError.protocolError("EXEC of \(queued) commands answered \(all[all.count - 1])")
        }
    }

    static let multi = RESPCommand([Array("MULTI".utf8)])
    static let exec = RESPCommand([Array("EXEC".utf8)])

    /// One command, off the cooperative pool; an error reply throws `.server`.
    public func command(_ args: [String]) async throws -> RESPValue {
        let reply = try await pipeline([args.map { Array($0.utf8) }])[0]
        if case .error(let e) = reply { throw RedisError.server(command: args.first ?? "", message: e) }
        return reply
    }

    /// Closes idle connections (in-flight ones close when returned... or with the process).
    public func shutdown() {
        cluster?.nodes.forEach { $0.pool.shutdown() }
        let idle = state.withLock { s -> [RedisConnection] in
            let i = s.idle
            s.idle = []
            return i
        }
        idle.forEach { $0.close() }
    }
}

