#if canImport(Glibc)
import Glibc
#endif
import Hummingbird
import HummingbirdCore
import HotTier
import Query
import Logging
import RedisClient
import ServiceLifecycle
import Foundation
import Catalog
import ColdStore
import Compactor
import Tiering
import SystemSupport
import StrataCore

/// `strata serve`: the managed Redis (or a configured one), the hot tier and the HTTP
/// server, started in that order and stopped in the reverse order on SIGTERM/SIGINT.
public struct Daemon: Sendable {
    public enum RedisSource: Sendable {
        /// Start a private redis-server on a unix socket under the data directory.
        case managed
        case external(RedisEndpoint)
        /// A Redis Cluster, found from these seeds (docs/hot-tier.md, "Redis Cluster").
        case cluster([RedisEndpoint])
    }

    public var dataDirectory: String
    public var config: ServerConfig
    public var redis: RedisSource
    /// nil: no authentication (`--insecure-no-auth`).
    public var tokens: TokenStore?
    public var logger: Logger
    /// Scheduled compaction (`--compact-at`, `--compact-above`); nil: none.
    public var compaction: CompactionSchedule?

    public struct CompactionSchedule: Sendable {
        public var at: (hour: Int, minute: Int)?
        public var timeZone: String
        public var aboveTickets: Int?
        public var policy: CompactionPolicy
        public var checkEverySeconds: Int
        public init(at: (hour: Int, minute: Int)?, timeZone: String, aboveTickets: Int?, policy: CompactionPolicy, checkEverySeconds: Int = 60) {
            self.checkEverySeconds = checkEverySeconds
            self.at = at
            self.timeZone = timeZone
            self.aboveTickets = aboveTickets
            self.policy = policy
        }
    }

    public init(dataDirectory: String, config: ServerConfig, redis: RedisSource, tokens: TokenStore?, logger: Logger) {
        self.dataDirectory = dataDirectory
        self.config = config
        self.redis = redis
        self.tokens = tokens
        self.logger = logger
    }

    public func run() async throws {
        var managed: RedisServer? = nil
        let endpoint: RedisEndpoint
        switch redis {
        case .managed:
            let server = try startManagedRedis()
            managed = server
            endpoint = server.endpoint
            FatalSignals.setChild(server.pid ?? 0)
        case .external(let e):
            endpoint = e
        case .cluster(let seeds):
            endpoint = seeds[0]
        }
        defer {
            if let managed {
                logger.info("stopping the managed redis-server")
                FatalSignals.setChild(0)
                managed.stop()
            }
        }
        let pool: RedisPool
        if case .cluster(let seeds) = redis {
            // Strict on a cluster: a write is acknowledged once a replica has it too, so that a
            // failover keeps it (WAIT after each node's pipeline).
            pool = RedisPool(cluster: seeds, waitReplicas: config.durability == .strict ? config.clusterWaitReplicas : 0)
        } else {
            pool = RedisPool(endpoint: endpoint)
        }
        defer { pool.shutdown() }
        switch redis {
        case .external, .cluster: try await checkDurability(pool)
        case .managed: break
        }
        var hotOptions = config.hotTier
        // Strict on one Redis: a round's writes in one MULTI … EXEC, one fsync for the round
        // instead of one per pass of Redis's loop (it reads 16 KB a pass) (docs/durability.md, "What strict costs").
        hotOptions.writeRoundAsTransaction = config.durability == .strict && !pool.isCluster
        let hot = HotTier(pool: pool, options: hotOptions)
        defer { hot.shutdown() }
        if config.hotTier.writeWithTransaction && pool.isCluster {
            logger.notice("--write-with transaction is not used on a Redis Cluster: the write script writes there")
        }
        try await hot.loadScript()
        // A Redis written by an earlier version keeps its hot index in one set per shard.
        let upgraded = try HotIndex(pool: pool, layout: config.hotTier.layout).upgrade()
        if upgraded > 0 { logger.notice("hot index: \(upgraded) tickets moved from the one-set-per-shard index into buckets") }
        let cold = ColdDirectory(dataDirectory: dataDirectory)
        let layout = config.hotTier.layout
        let lookupPool = pool
        // Queries, lookups and the reopen path share one view of the cold tier (its catalog
        // connection and open segments, rebuilt when the catalog changes).
        let coldTier = ColdTier(cold: cold)
        let server = StrataServer(config: config, hot: hot, tokens: tokens, coldLookup: { id in
            guard let row = try coldTier.coldTicket(id) else { return nil }
            // The vector as the hot tier last held it, from the row's merge state (B14); a row
            // imported without one has no vector to show.
            guard let state = row.mergeState else {
                return HotTicket(id: id, values: row.values, vv: []).json(withVector: false, cold: true)
            }
            return HotTicket(id: id, values: row.values, vv: try HotTicket.decode(id: id, state).vv).json(withVector: true, cold: true)
        })
        if tokens == nil { logger.warning("authentication is OFF (--insecure-no-auth): anyone who can reach \(config.host):\(config.port) can write") }
        server.coldSource = coldTier
        // Hot tickets stay parsed between queries, brought up to date from the change log.
        let hotCache = HotTicketCache()
        server.hotCache = hotCache
        server.queryEngine = { zone throws(QueryError) in
            // No catalog yet means no cold tier yet; one that cannot be read fails the query
            // before its answer starts (503), rather than halfway through it.
            do { _ = try coldTier.snapshot() } catch {
                throw QueryError(.unavailable, "the cold tier cannot be read: \(error)", offset: nil)
            }
            var engine = QueryEngine(source: TieredTableSource(pool: lookupPool, layout: layout, coldTier: coldTier, hotCache: hotCache))
            engine.timeZone = zone
            engine.threads = QueryThreads.default
            return engine
        }
        var services: [any Service] = managed.map { [RedisWatchdog(server: $0, logger: logger)] } ?? []
        services.append(server.bodyDeadlines)
        services.append(MinuteFolder(pool: pool, options: config.hotTier, logger: logger, folded: server.metrics.minutesFolded))
        // Compaction's recovery, as the daemon starts and whenever a run left work behind;
        // and the schedule's runs, one at a time with it.
        let compactionMetrics = CompactionMetrics(registry: server.metrics.registry), gate = CompactionGate()
        services.append(RecoveryWatch(pool: pool, layout: config.hotTier.layout, dataDirectory: dataDirectory,
                                      policy: compaction?.policy ?? CompactionPolicy(), gate: gate, logger: logger, metrics: compactionMetrics))
        if let c = compaction {
            guard let zone = TimeZone(identifier: c.timeZone) else {
                throw ConfigError(source: "--compact-tz", message: "unknown time zone \(c.timeZone) (use an IANA name such as Europe/Berlin)")
            }
            var settings = CompactionScheduler.Settings()
            settings.at = c.at
            settings.timeZone = zone
            settings.aboveTickets = c.aboveTickets
            settings.policy = c.policy
            settings.checkEverySeconds = c.checkEverySeconds
            services.append(CompactionScheduler(settings: settings, pool: pool, layout: config.hotTier.layout, dataDirectory: dataDirectory,
                                                logger: logger, metrics: compactionMetrics, gate: gate))
        }
        let stalls = server.metrics.writeStalls
        let app = Application(router: server.router(),
                              server: .http1(configuration: .init(additionalChannelHandlers: [HTTP10KeepAlive.Installer(),
                                                                                          ExpectContinueHandler(limit: config.bodyLimit),
                                                                                          WriteStallHandler(seconds: config.idleTimeoutSeconds) { stalls.increment() }],
                                                                  idleTimeout: .seconds(Int64(config.idleTimeoutSeconds)))),
                              configuration: .init(address: .hostname(config.host, port: config.port), serverName: "strata",
                                                   availableConnectionsDelegate: MaximumAvailableConnections(config.maxConnections, logger: logger)),
                              services: services,
                              onServerRunning: { _ in logger.info("strata serving on http://\(config.host):\(config.port) (redis: \(endpoint), durability: \(config.durability.rawValue))") },
                              logger: logger)
        try await app.runService()
        logger.info("HTTP server stopped; in-flight requests finished")
    }

    /// Starts the private redis-server, first stopping one that a killed daemon left behind.
    func startManagedRedis() throws -> RedisServer {
        // Absolute: redis-server changes into its --dir before it writes --pidfile and --logfile.
        let dir = absolutePath(dataDirectory) + "/redis"
        _ = try ChildProcess.run("/bin/mkdir", ["-p", dir])
        let pidFile = dir + "/redis.pid"
        if let text = readWholeFile(pidFile).map({ String(decoding: $0, as: UTF8.self) }),
           let pid = Int32(text.filter(\.isNumber)), pid > 1, kill(pid, 0) == 0,
           isRedisServer(pid) {
            logger.warning("a redis-server (pid \(pid)) from an earlier run is still up on \(dir): stopping it so that it flushes its AOF")
            kill(pid, SIGTERM)
            let deadline = monotonicSeconds() + 15
            while kill(pid, 0) == 0 && monotonicSeconds() < deadline { usleep(20_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL); usleep(100_000) }
        }
        var c = RedisServer.Config(directory: dir)
        c.appendOnly = true
        c.appendFsync = config.durability == .strict ? "always" : "everysec"
        c.extraArguments = ["--pidfile", pidFile]
        let server = RedisServer(c)
        logger.info("starting the managed redis-server in \(dir) (appendfsync \(c.appendFsync))")
        try server.start(timeoutSeconds: 120)
        return server
    }

    func isRedisServer(_ pid: Int32) -> Bool {
        guard let comm = readWholeFile("/proc/\(pid)/comm") else { return false }
        return String(decoding: comm, as: UTF8.self).hasPrefix("redis-server")
    }

    /// An external Redis (every master of a cluster) must persist as the chosen durability promises.
    func checkDurability(_ pool: RedisPool) async throws {
        let targets: [(name: String, pool: RedisPool)] = pool.isCluster ? try pool.clusterMasters() : [(pool.endpoint.description, pool)]
        for (name, node) in targets {
            func config(_ key: String) async throws -> String {
                let r = try await node.command(["CONFIG", "GET", key]).array ?? []
                return r.count == 2 ? (r[1].string ?? "") : ""
            }
            let aof = try await config("appendonly"), fsync = try await config("appendfsync")
            switch self.config.durability {
            case .strict where aof != "yes" || fsync != "always":
                throw ConfigError(source: "--durability strict",
                                  message: "the Redis at \(name) has appendonly \(aof), appendfsync \(fsync); strict needs appendonly yes and appendfsync always")
            case .default where aof != "yes":
                logger.warning("the Redis at \(name) has appendonly \(aof): acknowledged writes do not survive a Redis restart")
            default: break
            }
        }
    }
}
