#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SystemSupport

/// The one port allocator of the tests and benchmarks. Ports are chosen from the pid and a
/// per-process counter, so that parallel test processes, and servers started at once in one
/// process, do not collide; all of them lie below Linux's ephemeral range (32768 and up),
/// where an outgoing connection could hold them. A port that is taken (a server a crashed run
/// left behind) is skipped.
///
/// | range | for |
/// |---|---|
/// | 10000-12879 | clusters: blocks of 8 ports (their cluster bus is port + 10000: 20000-22879) |
/// | 23000-32599 | single servers (daemons, TCP redis): 20 per process slot, then the slots after; each reserved until `release` |
public enum TestPorts {
    static let blocksTaken = Atomic<Int>(0)
    static let portsTaken = Atomic<Int>(0)

    /// `count` (at most 8) consecutive ports whose cluster bus ports are free too.
    public static func clusterBlock(_ count: Int) -> [Int] {
        precondition(count <= 8, "at most 8 nodes")
        var block = Int(getpid() % 45) * 8 + blocksTaken.add(1, ordering: .relaxed).oldValue % 8
        for _ in 0..<360 {
            if (0..<count).allSatisfy({ PortProbe.isFree(10_000 + block * 8 + $0) && PortProbe.isFree(20_000 + block * 8 + $0) }) { break }
            block = (block + 1) % 360
        }
        return (0..<count).map { 10_000 + block * 8 + $0 }
    }

    /// Ports handed out and not yet given back (`release`): a server that is down for a
    /// moment (a daemon killed and started again on its port) must not find its port handed to
    /// another test meanwhile, which a probe alone would allow (it happened: a test's daemon
    /// failed to bind, and its harness talked to another test's daemon on the same port).
    static let reserved = Mutex(Set<Int>())

    /// One free port for a server, reserved until `release` (a harness gives it back when it
    /// ends). The process's 20 ports first; when all are reserved or taken, the ones after.
    public static func single() -> Int {
        let base = 23_000 + Int(getpid() % 480) * 20
        for attempt in 0..<9_600 {
            let p = attempt < 20 ? base + portsTaken.add(1, ordering: .relaxed).oldValue % 20
                : 23_000 + (base - 23_000 + attempt) % 9_600
            guard reserved.withLock({ $0.insert(p).inserted }) else { continue }
            if PortProbe.isFree(p) { return p }
            _ = reserved.withLock { $0.remove(p) }
        }
        preconditionFailure("no free test port in 23000-32599")
    }

    /// Gives back a port from `single` once its server is gone for good.
    public static func release(_ port: Int) {
        _ = reserved.withLock { $0.remove(port) }
    }
}
