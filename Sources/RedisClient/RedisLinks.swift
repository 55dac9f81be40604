#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Connections that a caller holds across several round trips, for state that lives on a
/// connection: `WATCH` (the transaction write path, docs/hot-tier.md, "Writing with a
/// transaction"). A caller checks out as many as it needs at once, keeps them over its
/// reads and its `EXEC`s, and checks them in clean (nothing watched, no reply pending), or
/// discards them. `exchange` sends on all of them and then reads all of them, from one
/// thread: each connection is one round trip, and they are all in flight together.
///
/// Not for a Redis Cluster (a connection reaches one node): the caller picks the node.
public final class RedisLinks: Sendable {
    public let endpoint: RedisEndpoint
    public let options: RedisPool.Options
    /// Links out and idle together at most (a round takes one per shard it writes).
    public let maxLinks: Int
    /// Round trips, commands and errors: the pool's own counters when given, so that /metrics
    /// counts this path's Redis traffic with the rest.
    public let stats: RedisStats

    struct State {
        var idle: [RedisConnection] = []
        var out = 0
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "strata.redis.links", attributes: .concurrent)

    public init(endpoint: RedisEndpoint, options: RedisPool.Options = .init(), maxLinks: Int = 256, stats: RedisStats = RedisStats()) {
        precondition(maxLinks >= 1 && maxLinks <= 4096)
        self.stats = stats
        self.endpoint = endpoint
        self.options = options
        self.maxLinks = maxLinks
    }

    /// Runs blocking Redis I/O off Swift's cooperative threads.
    public func run<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<R, any Error>) in
            queue.async { cont.resume(with: Result { try body() }) }
        }
    }

    /// `count` connections, idle ones first, new ones made (blocking).
    public func checkout(_ count: Int) throws -> [RedisConnection] {
        precondition(count >= 1)
        let reused = state.withLock { s -> [RedisConnection]? in
            guard s.out + count <= maxLinks else { return nil }
            s.out += count
            let reused = Array(s.idle.suffix(count))
            s.idle.removeLast(reused.count)
            return reused
        }
        guard var got = reused else {
            throw RedisError.unavailable("all \(maxLinks) transaction links to \(endpoint) are in use")
        }
        do {
            while got.count < count {
                got.append(try RedisConnection(endpoint: endpoint, connectTimeoutMs: options.connectTimeoutMs, ioTimeoutMs: options.ioTimeoutMs))
                stats.reconnects.add(1, ordering: .relaxed)
            }
        } catch {
            stats.errors.add(1, ordering: .relaxed)
            got.forEach { $0.close() }
            state.withLock { $0.out -= count }
            throw error is RedisError ? error : RedisError.connection("\(error)")
        }
        return got
    }

    /// Gives back links that are clean: nothing watched, no reply pending. Closed ones are dropped.
    public func checkin(_ links: [RedisConnection]) {
        state.withLock { s in
            s.out -= links.count
            precondition(s.out >= 0, "more links checked in than out")
            s.idle += links.filter(\.isOpen)
        }
    }

    /// Closes links whose state is unknown (an error, a `WATCH` left armed) and gives back their places.
    public func discard(_ links: [RedisConnection]) {
        links.forEach { $0.close() }
        checkin(links)
    }

    /// Sends each link its commands, then reads each link's replies: one round trip for all.
    /// A link with no commands is left alone (its replies: none). On an error every link is closed (their replies are no longer in step) and it throws.
    public func exchange(_ links: [RedisConnection], _ commands: [[RESPCommand]]) throws -> [[RESPValue]] {
        precondition(links.count == commands.count)
        do {
            for (link, cmds) in zip(links, commands) where !cmds.isEmpty { try link.send(cmds) }
            var replies = [[RESPValue]]()
            replies.reserveCapacity(links.count)
            for (link, cmds) in zip(links, commands) { replies.append(cmds.isEmpty ? [] : try link.receive(cmds)) }
            stats.roundTrips.add(1, ordering: .relaxed)
            stats.commands.add(commands.reduce(0) { $0 + $1.reduce(0) { $0 + $1.replies } }, ordering: .relaxed)
            return replies
        } catch {
            stats.errors.add(1, ordering: .relaxed)
            links.forEach { $0.close() }
            // A connection lost (Redis restarted, say): the idle links most likely went with
            // it. Closed now, so that the next round connects afresh instead of failing on them.
            if case .connection = error as? RedisError { shutdown() }
            throw error
        }
    }

    /// The last exchange of links held across round trips: on success they are checked in (the
    /// commands must leave them clean: `EXEC` or `UNWATCH`), on an error discarded.
    public func finish(_ links: [RedisConnection], _ commands: [[RESPCommand]]) throws -> [[RESPValue]] {
        do {
            let replies = try exchange(links, commands)
            checkin(links)
            return replies
        } catch {
            discard(links)
            throw error
        }
    }

    /// Checks out a link per command list and exchanges them, once more on new links if a
    /// connection was lost: for commands that write nothing (reads, `WATCH`), which may be sent
    /// again. On success the links are out (the caller checks them in or discards them).
    public func checkoutAndExchange(_ commands: [[RESPCommand]]) throws -> (links: [RedisConnection], replies: [[RESPValue]]) {
        for attempt in 0..<2 {
            let held = try checkout(commands.count)
            do {
                return (held, try exchange(held, commands))
            } catch let e as RedisError {
                discard(held)
                guard attempt == 0, case .connection = e else { throw e }
            } catch {
                discard(held)
                throw error
            }
        }
        preconditionFailure("unreachable")
    }

    /// Closes the idle links.
    public func shutdown() {
        let idle = state.withLock { s -> [RedisConnection] in
            defer { s.idle = [] }
            return s.idle
        }
        idle.forEach { $0.close() }
    }

    /// Links idle and out (for tests: every link comes back).
    public var counts: (idle: Int, out: Int) { state.withLock { ($0.idle.count, $0.out) } }
}
