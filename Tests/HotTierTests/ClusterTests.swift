#if canImport(Glibc)
import Glibc
#endif
import Testing
import StrataCore
import RedisClient
import SystemSupport
@testable import HotTier

/// A Redis Cluster on loopback that a test starts and stops: `masters` redis-servers with
/// `cluster-enabled yes` (Debian's), joined by `redis-cli --cluster create`.
final class TestCluster {
    let dir: TemporaryDirectory
    var servers: [RedisServer] = []
    let ports: [Int]
    let pool: RedisPool

    init(masters: Int, replicas: Int = 0, appendFsync: String? = nil) throws {
        dir = try TemporaryDirectory(prefix: "cluster")
        let count = masters * (1 + replicas)
        // Ports from the pid, so that parallel test processes do not collide.
        let base = 20_000 + Int(getpid() % 2000) * 16 + Int.random(in: 0..<8)
        ports = (0..<count).map { base + $0 }
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
        let code = try ChildProcess.run("/usr/bin/redis-cli", ["--cluster", "create"] + ports.map { "127.0.0.1:\($0)" }
                                        + ["--cluster-replicas", "\(replicas)", "--cluster-yes"], stdout: dir.path + "/create.log")
        precondition(code == 0, "redis-cli --cluster create failed: \(String(decoding: readWholeFile(dir.path + "/create.log") ?? [], as: UTF8.self))")
        pool = RedisPool(cluster: ports.prefix(1).map { RedisEndpoint(address: .tcp(host: "127.0.0.1", port: $0)) })
        try waitUntilHealthy()
    }

    /// Until every node says cluster_state:ok and agrees on the slots.
    func waitUntilHealthy(timeoutSeconds: Double = 20) throws {
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

    func node(_ k: Int) -> RedisPool { RedisPool(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: ports[k]))) }

    func nodeID(_ k: Int) throws -> String {
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

@Suite(.serialized) struct ClusterTests {
    @Test func slotsAreRedisClusters() {
        #expect(ClusterSlot.of(key: "foo") == 12182)
        #expect(ClusterSlot.of(key: "123456789") == 12739)
        #expect(ClusterSlot.of(key: "st:{7}:t:1") == ClusterSlot.of(key: "st:{7}:log"), "one hash tag, one slot")
        #expect(ClusterSlot.of(key: "a{}b") == ClusterSlot.of(key: Array("a{}b".utf8)), "an empty tag is no tag")
        #expect(ClusterSlot.keyIndex(["EVALSHA", "abc", "2", "k1", "k2"].map { Array($0.utf8) }) == 3)
        #expect(ClusterSlot.keyIndex(["PING"].map { Array($0.utf8) }) == nil)
    }

    /// The generated stream replayed through a 3-master cluster converges exactly to
    /// `--expect`, with every master holding part of the hot tier.
    @Test func replayOnThreeMastersIsExact() async throws {
        let cluster = try TestCluster(masters: 3)
        let dir = try TemporaryDirectory(prefix: "cluster-work")
        defer { dir.remove() }
        let w = try Workload.make(tickets: 5000, shuffle: 0.1, dup: 0.02, in: dir.path)
        let hot = HotTier(pool: cluster.pool)
        _ = try await replay(hot, w.events, batch: 1000)
        #expect(try await mismatches(hot, w.expected).prefix(10) == [])
        for k in 0..<3 {
            let n = cluster.node(k)
            defer { n.shutdown() }
            #expect(try n.pipelineBlocking([["DBSIZE"].map { Array($0.utf8) }])[0].int! > 0, "master \(k) holds part of the hot tier")
        }
    }

    /// All of one master's slots move to another while events stream in (MOVED, ASK and
    /// TRYAGAIN on the way): nothing lost, nothing applied twice.
    @Test func reshardingWhileWritingLosesAndRepeatsNothing() async throws {
        let cluster = try TestCluster(masters: 3)
        let dir = try TemporaryDirectory(prefix: "cluster-work")
        defer { dir.remove() }
        let w = try Workload.make(tickets: 6000, shuffle: 0.1, dup: 0.02, in: dir.path)
        let hot = HotTier(pool: cluster.pool)
        let from = try cluster.nodeID(0), to = try cluster.nodeID(1)
        let arguments = ["--cluster", "reshard", "127.0.0.1:\(cluster.ports[1])", "--cluster-from", from, "--cluster-to", to,
                         "--cluster-slots", "5461", "--cluster-yes", "--cluster-pipeline", "50"]
        let log = dir.path + "/reshard.log"
        let reshard = Task.detached { try ChildProcess.run("/usr/bin/redis-cli", arguments, stdout: log) }
        let accepted = try await replay(hot, w.events, batch: 200)
        #expect(try await reshard.value == 0, "\(String(decoding: readWholeFile(log) ?? [], as: UTF8.self).suffix(500))")
        #expect(try await mismatches(hot, w.expected).prefix(10) == [])
        #expect(try await changeLogLength(cluster.pool, hot.options.layout) == Int64(accepted), "each accepted event logged once")
        let n0 = cluster.node(0)
        defer { n0.shutdown() }
        #expect(try n0.pipelineBlocking([["DBSIZE"].map { Array($0.utf8) }])[0].int! == 0, "master 0 gave all its slots away")
        print("cluster: \(cluster.pool.clusterRedirections) redirection(s), \(cluster.pool.clusterRefreshes) slot map read(s)")
    }
}
