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
/// | 23000-32599 | single servers (daemons, TCP redis): 20 per process slot |
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

    /// One free port for a server.
    public static func single() -> Int {
        let base = 23_000 + Int(getpid() % 480) * 20
        var p = base + portsTaken.add(1, ordering: .relaxed).oldValue % 20
        for _ in 0..<20 where !PortProbe.isFree(p) { p = base + portsTaken.add(1, ordering: .relaxed).oldValue % 20 }
        return p
    }
}
