import RedisClient
import SystemSupport

/// A throwaway redis-server (Debian's) in its own temporary directory, for tests and
/// benchmarks: on its unix socket, and on a TCP port when asked; stopped and removed on deinit.
public final class TestRedis: @unchecked Sendable {
    public let dir: TemporaryDirectory
    public let server: RedisServer
    /// A pool on the unix socket.
    public let pool: RedisPool

    /// - `appendFsync`: nil for no AOF (the default: fastest), or `everysec` / `always`.
    /// - `configure`: anything else (a password, a TCP port, extra arguments).
    public init(prefix: String = "redis", appendFsync: String? = nil, configure: (inout RedisServer.Config) -> Void = { _ in }) throws {
        dir = try TemporaryDirectory(prefix: prefix)
        var c = RedisServer.Config(directory: dir.path)
        c.appendOnly = appendFsync != nil
        if let appendFsync { c.appendFsync = appendFsync }
        configure(&c)
        server = RedisServer(c)
        try server.start()
        pool = RedisPool(endpoint: server.endpoint)
    }

    public var socketPath: String { server.config.socketPath }
    public var endpoint: RedisEndpoint { server.endpoint }

    deinit {
        pool.shutdown()
        server.stop()
        dir.remove()
    }
}
