#if canImport(Glibc)
import Glibc
#endif
import StrataCore

/// A child process started with posix_spawn, with an empty signal mask and default
/// signal handlers (Foundation's `Process` passes the caller's blocked signals on, and a
/// child started from a test thread then ignores SIGTERM: swift-corelibs-foundation issue 4772).
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let executable: String
    private var exitStatus: Int32?

    public struct SpawnError: Error, CustomStringConvertible {
        public let executable: String
        public let errno: Int32
        public var description: String { "cannot start \(executable): \(String(cString: strerror(errno)))" }
    }

    /// Starts `executable` (searched in PATH when it has no slash) with `arguments`.
    /// stdin is /dev/null; stdout and stderr go to the given files (or /dev/null).
    public init(_ executable: String, _ arguments: [String], stdout: String? = nil, stderr: String? = nil,
                environment: [String: String]? = nil) throws {
        self.executable = executable
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if let stderr {
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)  // stderr joins stdout
        }
        // Nothing else of this process passes to the child: a socket a thread holds at that
        // instant (a port probe, a Redis connection, a listening socket) would stay open, and
        // its port taken, for the child's life (seen: a test daemon's port held by a
        // redis-server another test started, and the daemon failing to bind it).
        if let closeFrom = Self.closeFrom { _ = closeFrom(&actions, 3) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env: [UnsafeMutablePointer<CChar>?]
        if let environment {
            env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        } else {
            var e = [UnsafeMutablePointer<CChar>?]()
            var p = environ
            while let s = p.pointee { e.append(strdup(s)); p += 1 }
            env = e + [nil]
        }
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = executable.contains("/")
            ? posix_spawn(&pid, executable, &actions, &attr, argv, env)
            : posix_spawnp(&pid, executable, &actions, &attr, argv, env)
        guard rc == 0 else { throw SpawnError(executable: executable, errno: rc) }
        self.pid = pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; Swift's Glibc module
    /// does not declare it), found at run time; nil where the C library has none.
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    static let closeFrom: CloseFrom? = {
        guard let sym = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(sym, to: CloseFrom.self)
    }()

    /// The exit code if the child has ended (128+signal when it was killed), without waiting.
    public func poll() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        guard r == pid else { return nil }
        exitStatus = Self.decode(status)
        return exitStatus
    }

    /// Waits for the child to end; returns its exit code (128+signal when killed).
    @discardableResult
    public func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exitStatus = Self.decode(status)
        return exitStatus!
    }

    /// Sends SIGTERM, waits up to `graceSeconds`, then SIGKILL. Returns the exit code.
    @discardableResult
    public func stop(graceSeconds: Double = 5) -> Int32 {
        if let code = poll() { return code }
        kill(pid, SIGTERM)
        let deadline = monotonicSeconds() + graceSeconds
        while monotonicSeconds() < deadline {
            if let code = poll() { return code }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        return wait()
    }

    public func signal(_ sig: Int32) { kill(pid, sig) }

    static func decode(_ status: Int32) -> Int32 {
        let sig = status & 0x7F
        return sig == 0 ? (status >> 8) & 0xFF : 128 + sig
    }

    /// Runs a command to completion; returns its exit code.
    public static func run(_ executable: String, _ arguments: [String], stdout: String? = nil, stderr: String? = nil) throws -> Int32 {
        try ChildProcess(executable, arguments, stdout: stdout, stderr: stderr).wait()
    }
}


