#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import RedisClient
import SystemSupport
import StrataCore

/// A Redis Cluster on loopback for tests and benchmarks: `masters` redis-servers (and
/// `replicas` per master) with `cluster-enabled yes` (Debian's), joined by
/// `redis-cli --cluster create`, stopped and removed on deinit.
public final class LocalCluster: @unchecked Sendable {
    public let dir: TemporaryDirectory
    public private(set) var servers: [RedisServer] = []
    public let ports: [Int]
    public let pool: RedisPool

    public init(masters: Int, replicas: Int = 0, appendFsync: String? = nil, waitReplicas: Int = 0) throws {
        dir = try TemporaryDirectory(prefix: "cluster")
        let count = masters * (1 + replicas)
        ports = TestPorts.clusterBlock(count)
        for (k, port) in ports.enumerated() {
            var c = RedisServer.Config(directory: dir.path + "/n\(k)")
            _ = try ChildProcess.run("/bin/mkdir", ["-p", c.directory])
            c.port = port
            c.appendOnly = appendFsync != nil
            if let appendFsync { c.appendFsync = appendFsync }
            c.extraArguments = ["--cluster-enabled", "yes", "--cluster-config-file", c.directory + "/nodes.conf", "--cluster-node-timeout", "1000"]
            let s = RedisServer(c)
            try s.start()
            servers.append(s)
        }
        precondition(masters == 1 && replicas == 0 || masters >= 3, "redis-cli makes clusters of 3 masters or more; 1 is made by hand")
        if masters == 1 {
            // One master serving every slot (redis-cli refuses fewer than 3).
            let only = RedisPool(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: ports[0])))
            defer { only.shutdown() }
            let reply = try only.pipelineBlocking([["CLUSTER", "ADDSLOTSRANGE", "0", "\(ClusterSlot.count - 1)"].map { Array($0.utf8) }])[0]
            if case .error(let m) = reply { throw RedisError.server(command: "CLUSTER ADDSLOTSRANGE", message: m) }
        } else {
            let code = try ChildProcess.run("/usr/bin/redis-cli", ["--cluster", "create"] + ports.map { "127.0.0.1:\($0)" }
                                            + ["--cluster-replicas", "\(replicas)", "--cluster-yes"], stdout: dir.path + "/create.log")
            guard code == 0 else {
                throw RedisError.connection("redis-cli --cluster create failed: \(String(decoding: readWholeFile(dir.path + "/create.log") ?? [], as: UTF8.self).suffix(400))")
            }
        }
        pool = RedisPool(cluster: ports.prefix(1).map { RedisEndpoint(address: .tcp(host: "127.0.0.1", port: $0) ) },
                         waitReplicas: waitReplicas, waitTimeoutMs: 500)
        try waitUntilHealthy()
    }

    /// Until every running node says cluster_state:ok.
    public func waitUntilHealthy(timeoutSeconds: Double = 20) throws {
        let deadline = monotonicSeconds() + timeoutSeconds
        while monotonicSeconds() < deadline {
            var ok = true
            for (k, s) in servers.enumerated() where !s.hasExited() {
                let node = RedisPool(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: ports[k])))
                defer { node.shutdown() }
                let info = (try? node.pipelineBlocking([["CLUSTER", "INFO"].map { Array($0.utf8) }]))?.first?.string ?? ""
                if !info.contains("cluster_state:ok") { ok = false }
            }
            if ok { return }
            usleep(100_000)
        }
        throw RedisError.unavailable("the test cluster did not become healthy")
    }

    public func node(_ k: Int) -> RedisPool { RedisPool(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: ports[k]))) }

    /// The node's role: "master" or "slave".
    public func role(_ k: Int) -> String? {
        let p = node(k)
        defer { p.shutdown() }
        return (try? p.pipelineBlocking([["ROLE"].map { Array($0.utf8) }]))?.first?.array?.first?.string
    }

    public func nodeID(_ k: Int) throws -> String {
        let p = node(k)
        defer { p.shutdown() }
        return try p.pipelineBlocking([["CLUSTER", "MYID"].map { Array($0.utf8) }])[0].string!
    }

    deinit {
        pool.shutdown()
        for s in servers { _ = s.stop(graceSeconds: 5) }
        dir.remove()
    }
}

