import ArgumentParser
import RedisClient

/// The hot tier a command talks to: the managed redis-server of the data directory, one
/// Redis (`--redis`), or a Redis Cluster (`--redis-cluster`, seeds separated by commas).
func hotTierPool(dataDir: String, redis: String?, cluster: String?, waitReplicas: Int = 0) throws -> RedisPool {
    if let cluster {
        guard redis == nil else { throw ValidationError("give --redis or --redis-cluster, not both") }
        return RedisPool(cluster: try clusterSeeds(cluster), waitReplicas: waitReplicas)
    }
    let endpoint = try redis.map(RedisEndpoint.parse) ?? RedisEndpoint(address: .unix(path: dataDir + "/redis/redis.sock"))
    return RedisPool(endpoint: endpoint)
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
