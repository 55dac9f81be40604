import HotTier
import Tiering
import Prometheus
import RedisClient

/// What `/metrics` shows: requests, latencies, events, Redis round trips.
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let eventsApplied: Counter
    let eventsDuplicate: Counter
    let eventsRejected: Counter
    let overloaded: Counter
    let redisUnavailable: Counter
    let bodyTimeouts: Counter
    let writeStalls: Counter
    let minutesFolded: Counter
    let inFlight: Gauge
    let redisMaxPipeline: Gauge

    /// A `strata_<subsystem>_<name>_<unit>` metric name with its help text.
    static func name(_ subsystem: String, _ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "strata", subsystem: subsystem, metricName: name, unitName: unit, helpText: help)
    }

    public init() {
        let events = Self.name("", "events", "total", "Events by outcome")
        eventsApplied = registry.makeCounter(descriptor: events, labels: [("result", "applied")])
        eventsDuplicate = registry.makeCounter(descriptor: events, labels: [("result", "duplicate")])
        eventsRejected = registry.makeCounter(descriptor: events, labels: [("result", "rejected")])
        overloaded = registry.makeCounter(descriptor: Self.name("http", "overloaded", "total", "Requests refused with 503 because too many were in flight"))
        redisUnavailable = registry.makeCounter(descriptor: Self.name("http", "redis_unavailable", "total", "Requests answered 503 because Redis failed them"))
        bodyTimeouts = registry.makeCounter(descriptor: Self.name("http", "body_timeouts", "total", "Requests whose body did not arrive in time (408)"))
        writeStalls = registry.makeCounter(descriptor: Self.name("http", "write_stalls", "total", "Connections closed because their reader stopped reading for the idle timeout"))
        minutesFolded = registry.makeCounter(descriptor: Self.name("hot", "minutes_folded", "total", "Finished minutes whose counters went into their hours (MinuteFold)"))
        inFlight = registry.makeGauge(descriptor: Self.name("http", "in_flight", "requests", "Requests being handled"))
        redisMaxPipeline = registry.makeGauge(descriptor: Self.name("redis", "pipeline_depth_max", "commands", "Most commands in one pipeline"))
    }

    private let requestCounters = Mutex<[String: Counter]>([:])
    /// Totals kept elsewhere (the Redis pool's, the query cache's), exported as counters: each
    /// scrape advances the counter by what the total gained since the last one.
    private let mirrored = Mutex<[String: (counter: Counter, last: Int)]>([:])

    func mirror(_ subsystem: String, _ name: String, _ help: String, labels: [(String, String)] = [], total: Int) {
        let key = subsystem + "_" + name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        mirrored.withLock { m in
            var entry = m[key] ?? (registry.makeCounter(descriptor: Self.name(subsystem, name, "total", help), labels: labels), 0)
            if total > entry.last { entry.counter.increment(by: Int64(total - entry.last)) }
            entry.last = max(entry.last, total)
            m[key] = entry
        }
    }
    private let latencies = Mutex<[String: DurationHistogram]>([:])

    static let buckets: [Duration] = [.microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                                      .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                                      .milliseconds(500), .seconds(1), .seconds(5)]

    func record(route: String, status: Int, duration: Duration) {
        let key = "\(route) \(status)"
        let counter = requestCounters.withLock { m in
            if let c = m[key] { return c }
            let c = registry.makeCounter(descriptor: Self.name("http", "requests", "total", "HTTP requests by route and status"),
                                         labels: [("route", route), ("status", String(status))])
            m[key] = c
            return c
        }
        counter.increment()
        let histogram = latencies.withLock { m in
            if let h = m[route] { return h }
            let h = registry.makeDurationHistogram(descriptor: Self.name("http", "request_duration", "seconds", "HTTP request latency"),
                                                   labels: [("route", route)], buckets: Self.buckets)
            m[route] = h
            return h
        }
        histogram.record(duration)
    }

    func render(pool: RedisPool, hotCache: HotTicketCache? = nil, hotCounts: (tickets: Int, incomplete: Int)? = nil, merged: MergedWriteStats? = nil,
                rounds: WriteBatcher.Stats? = nil) -> String {
        if let rounds {
            mirror("hot", "write_rounds", "Rounds of writes to Redis (group commit: the events of concurrent requests together)", total: rounds.rounds)
            mirror("hot", "write_round_events", "Events in those rounds (divided by the rounds: events per round)", total: rounds.events)
            mirror("hot", "write_round_requests", "Requests in those rounds (divided by the rounds: requests per round)", total: rounds.callers)
        }
        if let merged {
            mirror("hot", "merged_writes", "Shard batches merged in the daemon and written unchanged-checked", total: merged.writes.load(ordering: .relaxed))
            mirror("hot", "merge_conflicts", "Shard batches whose tickets changed between read and write (read and merged again)",
                   total: merged.conflicts.load(ordering: .relaxed))
            mirror("hot", "merge_fallbacks", "Shard batches that kept losing the race and went through the merge script",
                   total: merged.fallbacks.load(ordering: .relaxed))
            mirror("hot", "merge_guesses_missed", "Shard batches of the transaction path merged over a guess that the watched read then contradicted (merged again)",
                   total: merged.guessesMissed.load(ordering: .relaxed))
        }
        if let hotCounts {
            registry.makeGauge(descriptor: Self.name("hot", "tickets", "tickets", "Tickets in the hot tier")).set(Double(hotCounts.tickets))
            registry.makeGauge(descriptor: Self.name("hot", "incomplete", "tickets",
                                                     "Hot tickets that lack a required column (patches whose create has not arrived); SQL leaves them out"))
                .set(Double(hotCounts.incomplete))
        }
        if let hotCache {
            registry.makeGauge(descriptor: Self.name("query", "hot_cache", "tickets", "Hot tickets the query cache holds as columns")).set(Double(hotCache.tickets))
            mirror("query", "hot_cache_updates", "Times the query cache read only the changed hot tickets", total: hotCache.updates)
            mirror("query", "hot_cache_reloads", "Times the query cache read every hot ticket again", total: hotCache.reloads)
        }
        mirror("redis", "round_trips", "Pipelines sent to Redis", total: Int(pool.stats.roundTrips.load(ordering: .relaxed)))
        mirror("redis", "commands", "Commands sent to Redis", total: Int(pool.stats.commands.load(ordering: .relaxed)))
        mirror("redis", "errors", "Redis errors (connection, timeout, server)", total: Int(pool.stats.errors.load(ordering: .relaxed)))
        mirror("redis", "connections_opened", "Redis connections opened", total: Int(pool.stats.reconnects.load(ordering: .relaxed)))
        redisMaxPipeline.set(Double(pool.stats.maxPipelineDepth.load(ordering: .relaxed)))
        if pool.isCluster {
            // Per node of the cluster.
            for (node, stats) in pool.clusterNodes {
                for (metric, help, value) in [("node_round_trips", "Pipelines sent to one cluster node", stats.roundTrips.load(ordering: .relaxed)),
                                              ("node_commands", "Commands sent to one cluster node", stats.commands.load(ordering: .relaxed)),
                                              ("node_errors", "Errors from one cluster node", stats.errors.load(ordering: .relaxed)),
                                              ("node_redirections", "MOVED and ASK replies from one cluster node", stats.redirections.load(ordering: .relaxed))] {
                    mirror("redis", metric, help, labels: [("node", node)], total: Int(value))
                }
            }
            mirror("redis", "cluster_redirections", "MOVED and ASK replies followed", total: Int(pool.clusterRedirections))
            mirror("redis", "cluster_slot_map_reads", "Times the cluster's slot map was read", total: Int(pool.clusterRefreshes))
        }
        var out = [UInt8]()
        registry.emit(into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

import Synchronization
