import HotTier
import Query

/// How `strata serve` runs. Defaults are what `./scripts/run` uses.
public struct ServerConfig: Sendable {
    public enum Durability: String, Sendable, CaseIterable {
        /// Append-only file, fsync every second: an acknowledged write survives a crash
        /// of the daemon and a kill of Redis; up to a second may be lost if the machine dies.
        case `default`
        /// Append-only file, fsync before Redis replies: nothing acknowledged is lost
        /// even if the machine dies.
        case strict
    }

    public var host = "127.0.0.1"
    public var port = 8080
    public var durability = Durability.default
    /// On a Redis Cluster with strict durability: replicas that must have a write before it
    /// is acknowledged (`WAIT`); 0 when the cluster has no replicas.
    public var clusterWaitReplicas = 1
    public var hotTier = HotTierOptions()

    // Limits on what comes from outside.
    public var maxEventBytes = EventDecoder.maxEventBytes
    public var maxBulkBytes = 8 << 20
    public var maxBulkLines = 10_000
    /// Requests being handled at once; more get 503 with Retry-After.
    public var maxInFlight = 64
    public var retryAfterSeconds = 1
    /// A connection with no request under way (nothing sent, or half a request head) is
    /// closed after this long.
    public var idleTimeoutSeconds = 30
    /// A request body must arrive whole within this long, else 408 and the connection closes.
    public var bodyTimeoutSeconds = 30
    /// Connections open at once; past it the daemon stops accepting (new clients wait in the
    /// listen backlog) instead of running out of file descriptors.
    public var maxConnections = 4096

    /// The most body bytes each path takes (what the routes enforce again as they read).
    public var bodyLimit: @Sendable (String) -> Int {
        let (event, bulk, query) = (maxEventBytes, maxBulkBytes, QueryLimits.maxQueryBytes + 1024)
        return { path in
            switch path {
            case "/v1/events": return event
            case "/v1/events/_bulk": return bulk
            case "/v1/query": return query
            default: return event
            }
        }
    }

    public init() {}
}
