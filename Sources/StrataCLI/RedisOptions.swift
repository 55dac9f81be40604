import ArgumentParser
import HotTier
import RedisClient

/// Where the hot tier of `compact`, `query` and `report` is: the managed redis-server of the
/// data directory, one Redis (`--redis`), or a Redis Cluster (`--redis-cluster`); and its
/// shard count, which must match the daemon's.
struct HotTierLocation: ParsableArguments {
    @Option(help: "Redis address of the hot tier (default: the managed redis-server of --data-dir).")
    var redis: String?

    @Option(help: "A Redis Cluster instead: seeds host:port[,host:port…] (the slot map is read from any).")
    var redisCluster: String?

    @Option(help: "Hot-tier shards (must match the daemon's --shards).")
    var shards = 32

    func validate() throws {
        guard shards >= 1 && shards <= KeyLayout.maxShards else { throw ValidationError("--shards must be 1...\(KeyLayout.maxShards)") }
        guard redis == nil || redisCluster == nil else { throw ValidationError("give --redis or --redis-cluster, not both") }
    }

    var layout: KeyLayout { KeyLayout(shards: shards) }

    func pool(dataDir: String) throws -> RedisPool {
        if let redisCluster { return RedisPool(cluster: try clusterSeeds(redisCluster)) }
        let endpoint = try redis.map(RedisEndpoint.parse) ?? RedisEndpoint(address: .unix(path: dataDir + "/redis/redis.sock"))
        return RedisPool(endpoint: endpoint)
    }
}

/// `host:port[,host:port…]` (or `redis://[:password@]host:port` entries): at most 64 seeds.
func clusterSeeds(_ text: String) throws -> [RedisEndpoint] {
    let parts = text.split(separator: ",").map { String($0) }
    guard !parts.isEmpty && parts.count <= 64 else { throw ValidationError("--redis-cluster takes 1 to 64 host:port seeds, got \"\(text.prefix(80))\"") }
    return try parts.map { p in
        let endpoint: RedisEndpoint
        do { endpoint = try RedisEndpoint.parse(p.hasPrefix("redis://") ? p : "redis://" + p) } catch {
            throw ValidationError("--redis-cluster: \(p) is not host:port (\(error))")
        }
        guard case .tcp = endpoint.address else { throw ValidationError("--redis-cluster: \(p) must be a TCP address") }
        return endpoint
    }
}
