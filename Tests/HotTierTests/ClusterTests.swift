#if canImport(Glibc)
import Glibc
#endif
import Testing
import StrataCore
import RedisClient
import SystemSupport
@testable import HotTier

/// The cluster of these tests (RedisClient's `LocalCluster`).
typealias TestCluster = LocalCluster

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
        // The move happened under the writes: master 0 serves no slot now, and the writer was redirected.
        let slots = try n0.pipelineBlocking([["CLUSTER", "SLOTS"].map { Array($0.utf8) }])[0].array ?? []
        let servedBy0 = slots.filter { $0.array?[2].array?[1].int == Int64(cluster.ports[0]) }
        #expect(servedBy0.isEmpty, "master 0 gave all its slots away")
        #expect(cluster.pool.clusterRedirections > 0)
        // Keys the move left behind on master 0 would be invisible to readers: tickets among
        // them would show in the comparison above. Reported, for the record.
        let left = try n0.pipelineBlocking([["KEYS", "*"].map { Array($0.utf8) }])[0].array?.compactMap(\.string) ?? []
        #expect(!left.contains { $0.contains(":t:") }, "no ticket left behind on master 0: \(left.prefix(5))")
        if !left.isEmpty { print("cluster: \(left.count) key(s) left on master 0 after the move, e.g. \(left.prefix(3))") }
        print("cluster: \(cluster.pool.clusterRedirections) redirection(s), \(cluster.pool.clusterRefreshes) slot map read(s)")
    }

    /// 3 masters with a replica each, strict durability (AOF fsync always, and WAIT for a
    /// replica): a master is killed in the middle of the stream. Its replica takes over; the
    /// writer, which resends what was not acknowledged as the ticket service does on a 503,
    /// goes on without being restarted; the killed node comes back as a replica. Every
    /// acknowledged event is there: the final state is exactly `--expect`.
    @Test func killingAMasterLosesNoAcknowledgedWrite() async throws {
        let cluster = try TestCluster(masters: 3, replicas: 1, appendFsync: "always", waitReplicas: 1)
        let dir = try TemporaryDirectory(prefix: "cluster-work")
        defer { dir.remove() }
        let w = try Workload.make(tickets: 4000, shuffle: 0.1, dup: 0.02, in: dir.path)
        let hot = HotTier(pool: cluster.pool)
        let victim = try #require((0..<cluster.servers.count).first { cluster.role($0) == "master" })
        var refused = 0, start = 0, killed = false
        let deadline = monotonicSeconds() + 120
        while start < w.events.count {
            if !killed && start >= w.events.count / 3 {
                cluster.servers[victim].kill()
                killed = true
                // The failed node comes back a few seconds later (as an operator's restart
                // would) and rejoins as a replica of the master that replaced it.
                let server = cluster.servers[victim]
                Task.detached { try? await Task.sleep(for: .seconds(4)); try? server.restart(timeoutSeconds: 20) }
            }
            let batch = Array(w.events[start..<min(start + 200, w.events.count)])
            do {
                _ = try await hot.apply(batch)
                start += batch.count
            } catch {
                refused += 1
                #expect(monotonicSeconds() < deadline, "writing did not resume: \(error)")
                if monotonicSeconds() > deadline { break }
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        #expect(killed && refused > 0, "the kill was felt (\(refused) refused batches)")
        #expect(try await mismatches(hot, w.expected).prefix(10) == [])
        print("failover: \(refused) batch(es) refused and resent, \(cluster.pool.clusterRefreshes) slot map read(s)")
    }
}
