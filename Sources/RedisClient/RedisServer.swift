#if canImport(Glibc)
import Glibc
#endif
import SystemSupport
import StrataCore

/// A redis-server child process (Debian's), for the daemon's embedded default and for
/// tests. Started with posix_spawn (a clean signal mask), stopped with SIGTERM.
public final class RedisServer: @unchecked Sendable {
    public struct Config: Sendable {
        /// Data directory: AOF, RDB, log, and by default the socket.
        public var directory: String
        /// TCP port on 127.0.0.1, or 0 for none (unix socket only).
        public var port: Int = 0
        public var appendOnly = true
        /// `everysec` (default durability) or `always` (strict).
        public var appendFsync = "everysec"
        public var password: String? = nil
        public var extraArguments: [String] = []
        public var executable = "redis-server"
        public init(directory: String) { self.directory = directory }
        public var socketPath: String { directory + "/redis.sock" }
    }

    public let config: Config
    public private(set) var process: ChildProcess?

    /// A relative `directory` is made absolute: redis-server changes into `--dir` before
    /// it opens `--logfile`, so a relative log path would be looked for from inside it.
    public init(_ config: Config) {
        var c = config
        c.directory = absolutePath(config.directory)
        self.config = c
    }

    public var endpoint: RedisEndpoint {
        RedisEndpoint(address: .unix(path: config.socketPath), password: config.password)
    }

    public var tcpEndpoint: RedisEndpoint? {
        config.port > 0 ? RedisEndpoint(address: .tcp(host: "127.0.0.1", port: config.port), password: config.password) : nil
    }

    public var logPath: String { config.directory + "/redis.log" }

    /// Starts the server and waits until it answers PING (up to `timeoutSeconds`).
    public func start(timeoutSeconds: Double = 10) throws {
        precondition(process == nil, "already started")
        let socket = config.socketPath
        guard socket.utf8.count < 100 else {
            throw RedisError.connection("unix socket path \(socket) is longer than 100 bytes; use a shorter --data-dir")
        }
        unlink(socket)
        var args = ["--port", "\(config.port)", "--bind", "127.0.0.1", "--unixsocket", socket, "--unixsocketperm", "700",
                    "--dir", config.directory, "--logfile", logPath, "--daemonize", "no", "--save", "",
                    "--appendonly", config.appendOnly ? "yes" : "no", "--appendfsync", config.appendFsync,
                    "--appendfilename", "appendonly.aof", "--protected-mode", "no"]
        if let p = config.password { args += ["--requirepass", p] }
        args += config.extraArguments
        var env = [String: String]()
        env["PATH"] = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        env["LC_ALL"] = "C"
        let child = try ChildProcess(config.executable, args, stdout: config.directory + "/redis.stdout", environment: env)
        process = child
        let deadline = monotonicSeconds() + timeoutSeconds
        var lastError = ""
        while monotonicSeconds() < deadline {
            if let code = child.poll() {
                process = nil
                throw RedisError.connection("redis-server exited with code \(code) at start; see \(logPath): \(tail(logPath))")
            }
            do {
                let c = try RedisConnection(endpoint: endpoint, connectTimeoutMs: 200, ioTimeoutMs: 1000)
                let pong = try c.command("PING")
                if pong.string == "PONG" { return }
            } catch let e as RedisError {
                lastError = e.description
                // Loading a large AOF answers "LOADING ...": keep waiting.
            }
            usleep(10_000)
        }
        child.stop()
        process = nil
        throw RedisError.connection("redis-server did not answer within \(timeoutSeconds) s (\(lastError)); see \(logPath)")
    }

    /// SIGTERM (Redis flushes its AOF and exits), SIGKILL after the grace period.
    @discardableResult
    public func stop(graceSeconds: Double = 10) -> Int32? {
        defer { process = nil }
        return process?.stop(graceSeconds: graceSeconds)
    }

    /// Whether the child has exited on its own (a crash, an OOM kill).
    public func hasExited() -> Bool {
        guard let process else { return true }
        return process.poll() != nil
    }

    /// Starts the server again after it exited.
    public func restart(timeoutSeconds: Double = 120) throws {
        process = nil
        try start(timeoutSeconds: timeoutSeconds)
    }

    public var pid: Int32? { process?.pid }

    /// SIGKILL: a crash of Redis, for tests.
    public func kill() {
        process?.signal(SIGKILL)
        process?.wait()
        process = nil
    }

    deinit { process?.stop(graceSeconds: 5) }
}

/// `path` from the working directory, if it is relative.
public func absolutePath(_ path: String) -> String {
    guard !path.hasPrefix("/") else { return path }
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    let cwd = String(cString: buffer)
    var rest = Substring(path)
    while rest.hasPrefix("./") { rest = rest.dropFirst(2) }
    if rest == "." { rest = "" }
    return cwd == "/" ? "/" + rest : cwd + (rest.isEmpty ? "" : "/" + rest)
}

func tail(_ path: String) -> String {
    guard let bytes = readWholeFile(path) else { return "(no log)" }
    return String(decoding: bytes.suffix(600), as: UTF8.self).split(separator: "\n").suffix(3).joined(separator: " | ")
}
