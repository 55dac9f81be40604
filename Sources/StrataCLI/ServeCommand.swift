#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MemoryAllocator
import HotTier
import Logging
import RedisClient
import Server
import SystemSupport
import Compactor

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon: the write API over the Redis hot tier.",
        discussion: """
        With no --redis, starts a private redis-server (Debian's) on a unix socket under \
        DATA/redis with append-only persistence, and stops it on shutdown. Tokens come from \
        --auth-file, else DATA/auth.json, which is created with one admin token if missing.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen = "127.0.0.1:8080"

    @Option(help: "Use this Redis instead of a managed one: redis://[:password@]host:port or a unix socket path.")
    var redis: String?

    @Option(help: "Use a Redis Cluster: seeds host:port[,host:port…]; the slot map is read from any of them.")
    var redisCluster: String?

    @Option(help: "With --redis-cluster and --durability strict: replicas that must have a write before it is acknowledged.")
    var clusterWaitReplicas: Int = 1

    @Option(help: "default (AOF, fsync every second) or strict (AOF, fsync before every reply).")
    var durability = "default"

    @Option(help: "Hot-tier shards (hash tags); fixed for the life of a Redis dataset.")
    var shards = 32

    @Option(help: "Where events are merged: daemon (read, merge here, write if unchanged) or redis (the merge script).")
    var mergeIn = "daemon"

    @Option(help: "How the daemon's merge is written (with --merge-in daemon): script (the write script compares and writes) or transaction (WATCH, MULTI, EXEC: no Lua; not on a Redis Cluster, which keeps the script).")
    var writeWith = "script"

    @Option(help: "Bearer tokens with scopes (JSON). Default: DATA/auth.json.")
    var authFile: String?

    @Flag(help: "No authentication at all (local demos only).")
    var insecureNoAuth = false

    @Option(help: "Requests handled at once before 503 + Retry-After.")
    var maxInFlight = 64

    @Option(help: "Seconds before a connection with no request under way (or half a request head) is closed.")
    var idleTimeout = 30

    @Option(help: "Seconds a request body has to arrive whole, else 408.")
    var bodyTimeout = 30

    @Option(help: "Connections open at once; past it new ones wait in the listen backlog.")
    var maxConnections = 4096

    @Option(help: "Run the compactor every day at this local time, HH:MM.")
    var compactAt: String?

    @Option(help: "Time zone of --compact-at (IANA name).")
    var compactTz = "UTC"

    @Option(help: "Also run the compactor when the hot tier holds more than this many tickets.")
    var compactAbove: Int?

    @Option(help: "How often the scheduler checks the clock and the hot-tier size.")
    var compactCheck = "60s"

    @Option(help: "Tickets not updated for this long move to the cold tier (7d, 36h, …).")
    var hotAge = "7d"

    @Option(help: "Hours of counters move to ticket_metrics once they ended this long ago (48h, 3d, …).")
    var metricsAge = "48h"

    @Option(help: "How long a minute's counters are kept after the minute ends (1h...30d: 48h, 6h, …); an event older than that counts in its hour only. Minute keys take the most Redis memory at high rates (docs/scaling.md).")
    var minuteRetention = "48h"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func run() async throws {
        FatalSignals.install(name: "strata serve")
        LoggingSystem.bootstrap { StderrLogHandler(label: $0, metadataProvider: LoggingSystem.metadataProvider) }
        var logger = Logger(label: "strata")
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level \(logLevel)") }
        logger.logLevel = level
        logger.info("memory allocator: \(MemoryAllocator.description) (freed pages returned after \(MemoryAllocator.setting("arenas.dirty_decay_ms").map { "\($0) ms" } ?? "?")\(MemoryAllocator.flag("background_thread") == true ? " by a background thread" : ""))")
        var config = ServerConfig()
        let parts = listen.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, let port = Int(parts.last!), port > 0, port < 65536 else {
            throw ValidationError("--listen must be HOST:PORT, got \(listen)")
        }
        config.host = parts.dropLast().joined(separator: ":")
        config.port = port
        guard let d = ServerConfig.Durability(rawValue: durability) else { throw ValidationError("--durability must be default or strict") }
        config.durability = d
        guard shards >= 1 && shards <= KeyLayout.maxShards else { throw ValidationError("--shards must be 1...\(KeyLayout.maxShards)") }
        config.hotTier.layout = KeyLayout(shards: shards)
        guard mergeIn == "daemon" || mergeIn == "redis" else { throw ValidationError("--merge-in must be daemon or redis") }
        config.hotTier.mergeInDaemon = mergeIn == "daemon"
        guard writeWith == "script" || writeWith == "transaction" else { throw ValidationError("--write-with must be script or transaction") }
        config.hotTier.writeWithTransaction = writeWith == "transaction"
        guard let minuteMs = CompactCommand.duration(minuteRetention), minuteMs >= 3_600_000, minuteMs <= 30 * 86_400_000 else {
            throw ValidationError("--minute-retention must be 1h...30d, like 48h or 6h, not '\(minuteRetention)'")
        }
        config.hotTier.minuteRetentionSeconds = Int(minuteMs / 1000)
        guard maxInFlight >= 1 && maxInFlight <= 10_000 else { throw ValidationError("--max-in-flight must be 1...10000") }
        config.maxInFlight = maxInFlight
        guard idleTimeout >= 1 && idleTimeout <= 3600 else { throw ValidationError("--idle-timeout must be 1...3600 seconds") }
        guard bodyTimeout >= 1 && bodyTimeout <= 3600 else { throw ValidationError("--body-timeout must be 1...3600 seconds") }
        guard maxConnections >= 8 && maxConnections <= 1_000_000 else { throw ValidationError("--max-connections must be 8...1000000") }
        (config.idleTimeoutSeconds, config.bodyTimeoutSeconds, config.maxConnections) = (idleTimeout, bodyTimeout, maxConnections)
        // Room for every connection, Redis, segments and the catalog: raise the soft limit on
        // open files toward the hard one, and say so if even that is too low.
        var files = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files) == 0 {
            let want = rlim_t(maxConnections + 1024)
            if files.rlim_cur < want {
                files.rlim_cur = min(want, files.rlim_max)
                _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &files)
            }
            if files.rlim_cur < want {
                logger.warning("open files are limited to \(files.rlim_cur), less than --max-connections \(maxConnections) + 1024: lower --max-connections or raise the limit")
            }
        }
        guard redis == nil || redisCluster == nil else { throw ValidationError("give --redis or --redis-cluster, not both") }
        guard clusterWaitReplicas >= 0 && clusterWaitReplicas <= 16 else { throw ValidationError("--cluster-wait-replicas must be 0...16") }
        config.clusterWaitReplicas = clusterWaitReplicas
        let source: Daemon.RedisSource = try redisCluster.map { .cluster(try clusterSeeds($0)) }
            ?? redis.map { .external(try RedisEndpoint.parse($0)) } ?? .managed
        _ = try ChildProcess.run("/bin/mkdir", ["-p", global.dataDir])
        let tokens: TokenStore? = insecureNoAuth ? nil : try loadTokens(logger)
        var daemon = Daemon(dataDirectory: global.dataDir, config: config, redis: source, tokens: tokens, logger: logger)
        if compactAt != nil || compactAbove != nil {
            var at: (hour: Int, minute: Int)? = nil
            if let compactAt {
                let p = compactAt.split(separator: ":")
                guard p.count == 2, let h = Int(p[0]), let m = Int(p[1]), (0..<24).contains(h), (0..<60).contains(m) else {
                    throw ValidationError("--compact-at must be HH:MM, got \(compactAt)")
                }
                at = (h, m)
            }
            if let compactAbove, compactAbove < 1 { throw ValidationError("--compact-above must be positive") }
            guard let age = CompactCommand.duration(hotAge) else { throw ValidationError("--hot-age must be like 7d, 36h or 90m") }
            var policy = CompactionPolicy()
            policy.hotAgeMs = age
            guard let metricsMs = CompactCommand.duration(metricsAge) else { throw ValidationError("--metrics-age must be like 48h or 2d") }
            policy.metricsHotAgeMs = metricsMs
            guard let check = CompactCommand.duration(compactCheck), check >= 1000 else { throw ValidationError("--compact-check must be at least 1s") }
            daemon.compaction = .init(at: at, timeZone: compactTz, aboveTickets: compactAbove, policy: policy, checkEverySeconds: Int(check / 1000))
        }
        do {
            try await daemon.run()
        } catch {
            logger.critical("strata serve failed: \(error)")
            throw ExitCode(1)
        }
    }

    func loadTokens(_ logger: Logger) throws -> TokenStore {
        let path = authFile ?? global.dataDir + "/auth.json"
        if authFile == nil, readWholeFile(path) == nil {
            let token = randomToken()
            let text = #"{"tokens": [{"name": "admin", "token": "\#(token)", "scopes": ["write", "query", "admin"]}]}"# + "\n"
            try writeWholeFile(path, Array(text.utf8))
            chmod(path, 0o600)
            logger.notice("created \(path) with an admin token (scopes write, query, admin); use it as: Authorization: Bearer <token>")
        }
        guard let bytes = readWholeFile(path) else { throw ValidationError("cannot read the auth file \(path)") }
        return try TokenStore.parse(bytes, source: path)
    }

    func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<4).map { _ in
            let s = String(g.next(), radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }.joined()
    }
}
