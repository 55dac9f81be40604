#if canImport(Glibc)
import Glibc
#endif
import Testing
import StrataCore
import RedisClient
import SystemSupport
import StrataTesting
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
        let w = try GeneratedStream.make(tickets: 5000, shuffle: 0.1, dup: 0.02, in: dir.path)
        let events = try w.events()
        let hot = HotTier(pool: cluster.pool)
        _ = try await replay(hot, events, batch: 1000)
        #expect(try await w.expected.hotMismatches(hot).prefix(10) == [])
        for k in 0..<3 {
            let n = cluster.node(k)
            defer { n.shutdown() }
            #expect(try n.pipelineBlocking([["DBSIZE"].map { Array($0.utf8) }])[0].int! > 0, "master \(k) holds part of the hot tier")
        }
    }

    /// The slots of master 0 that hold the hot tier move to master 1, by hand (`CLUSTER
    /// SETSLOT … IMPORTING/MIGRATING`, `MIGRATE` in small steps, `SETSLOT … NODE`), while events
    /// stream in: the writer meets ASK, TRYAGAIN and MOVED. Nothing lost, nothing applied twice.
    @Test func reshardingWhileWritingLosesAndRepeatsNothing() async throws {
        let cluster = try TestCluster(masters: 3)
        let dir = try TemporaryDirectory(prefix: "cluster-work")
        defer { dir.remove() }
        let w = try GeneratedStream.make(tickets: 6000, shuffle: 0.1, dup: 0.02, in: dir.path)
        let events = try w.events()
        let hot = HotTier(pool: cluster.pool)
        let layout = hot.options.layout
        let id0 = try cluster.nodeID(0), id1 = try cluster.nodeID(1)
        let port1 = cluster.ports[1]
        let n0 = cluster.node(0), n1 = cluster.node(1), n2 = cluster.node(2)
        defer { [n0, n1, n2].forEach { $0.shutdown() } }
        func call(_ p: RedisPool, _ args: [String]) throws -> RESPValue { try p.pipelineBlocking([args.map { Array($0.utf8) }])[0] }
        // Master 0's slots (CLUSTER SLOTS), and which of them the hot tier's shards use.
        let ranges = try call(n0, ["CLUSTER", "SLOTS"]).array ?? []
        let owned0 = ranges.filter { $0.array?[2].array?[1].int == Int64(cluster.ports[0]) }.compactMap { r -> ClosedRange<Int>? in
            guard let a = r.array, let lo = a[0].int, let hi = a[1].int else { return nil }
            return Int(lo)...Int(hi)
        }
        let moving = Set((0..<layout.shards).map { ClusterSlot.of(key: layout.changeLog($0)) }).filter { s in owned0.contains { $0.contains(s) } }.sorted()
        try #require(!moving.isEmpty, "master 0 serves some of the hot tier's slots")
        let half = events.count / 3
        var accepted = try await replay(hot, Array(events[..<half]), batch: 200)
        // The move runs beside the writer, a few keys at a time.
        let mover = Task.detached { () throws -> Int in
            var migrated = 0
            for slot in moving {
                _ = try call(n1, ["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", id0])
                _ = try call(n0, ["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", id1])
                while true {
                    let keys = try call(n0, ["CLUSTER", "GETKEYSINSLOT", "\(slot)", "40"]).array?.compactMap(\.string) ?? []
                    if keys.isEmpty { break }
                    let reply = try call(n0, ["MIGRATE", "127.0.0.1", "\(port1)", "", "0", "5000", "KEYS"] + keys)
                    guard reply.string == "OK" || reply.string == "NOKEY" else { throw RedisError.server(command: "MIGRATE", message: "\(reply)") }
                    migrated += keys.count
                    usleep(5_000)
                }
                for p in [n1, n0, n2] { _ = try call(p, ["CLUSTER", "SETSLOT", "\(slot)", "NODE", id1]) }
            }
            return migrated
        }
        accepted += try await replay(hot, Array(events[half...]), batch: 200)
        let migrated = try await mover.value
        #expect(migrated > 0)
        #expect(try await w.expected.hotMismatches(hot).prefix(10) == [])
        #expect(try await changeLogLength(cluster.pool, layout) == Int64(accepted), "each accepted event logged once")
        for slot in moving {
            #expect(try call(n0, ["CLUSTER", "COUNTKEYSINSLOT", "\(slot)"]).int == 0, "slot \(slot) left keys on master 0")
        }
        #expect(cluster.pool.clusterRedirections > 0, "the writer met the move")
        print("cluster: \(moving.count) slot(s), \(migrated) key(s) moved; \(cluster.pool.clusterRedirections) redirection(s), \(cluster.pool.clusterRefreshes) slot map read(s)")
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
        let w = try GeneratedStream.make(tickets: 4000, shuffle: 0.1, dup: 0.02, in: dir.path)
        let events = try w.events()
        let hot = HotTier(pool: cluster.pool)
        let victim = try #require((0..<cluster.servers.count).first { cluster.role($0) == "master" })
        var refused = 0, start = 0, killed = false
        let deadline = monotonicSeconds() + 120
        while start < events.count {
            if !killed && start >= events.count / 3 {
                cluster.servers[victim].kill()
                killed = true
                // The failed node comes back a few seconds later (as an operator's restart
                // would) and rejoins as a replica of the master that replaced it.
                let server = cluster.servers[victim]
                Task.detached { try? await Task.sleep(for: .seconds(4)); try? server.restart(timeoutSeconds: 20) }
            }
            let batch = Array(events[start..<min(start + 200, events.count)])
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
        #expect(try await w.expected.hotMismatches(hot).prefix(10) == [])
        print("failover: \(refused) batch(es) refused and resent, \(cluster.pool.clusterRefreshes) slot map read(s)")
    }
}
