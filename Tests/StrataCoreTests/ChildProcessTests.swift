import Testing
#if canImport(Glibc)
import Glibc
#endif
import SystemSupport
import StrataTesting

@Suite struct ChildProcessTests {
    /// A child gets stdin, stdout and stderr, and none of the parent's other descriptors: a
    /// socket bound here (a port probe, a Redis connection, a listening socket) must not stay
    /// open in a redis-server started meanwhile, holding its port for that server's life.
    @Test func aChildInheritsNoDescriptorButTheStandardOnes() throws {
        let dir = try TemporaryDirectory(prefix: "child-fds")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)  // no CLOEXEC, on purpose
        #expect(fd > 2)
        defer { close(fd) }
        let out = dir.path + "/fds"
        let child = try ChildProcess("/bin/sh", ["-c", "ls /proc/$$/fd"], stdout: out)
        #expect(child.wait() == 0)
        let listed = String(decoding: readWholeFile(out) ?? [], as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { Int32($0) }
        #expect(listed.contains(0) && listed.contains(1) && listed.contains(2), "\(listed)")
        #expect(!listed.contains(fd), "the parent's socket \(fd) reached the child: \(listed)")
    }
}
