#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import StrataCore
import RedisClient
import HotTier
import SystemSupport
import Workload


/// A real `strata serve` process on a loopback port, with its own data directory.
public final class DaemonHarness: @unchecked Sendable {
    public let dir: TemporaryDirectory
    public let port: Int
    public let arguments: [String]
    public private(set) var process: ChildProcess?
    public var data: String { dir.path + "/data" }
    public var log: String { dir.path + "/daemon.log" }

    /// Started from inside `dir` with `--data-dir data` (relative), as a user in a shell would.
    public let relative: Bool

    public init(_ extra: [String] = ["--insecure-no-auth"], directory: TemporaryDirectory? = nil, relative: Bool = false) throws {
        dir = try directory ?? TemporaryDirectory(prefix: "daemon")
        self.relative = relative
        port = TestPorts.single()
        arguments = ["serve", "--data-dir", relative ? "data" : dir.path + "/data", "--listen", "127.0.0.1:\(port)"] + extra
        try start()
    }

    public func start() throws {
        let output = log + ".\(Int(monotonicSeconds() * 1000))"
        let strata = try ProjectPaths.strata
        let p = relative ? try ChildProcess("/bin/sh", ["-c", #"cd "$0" && exec "$@""#, dir.path, strata] + arguments, stdout: output)
            : try ChildProcess(strata, arguments, stdout: output)
        process = p
        let deadline = monotonicSeconds() + 60
        while monotonicSeconds() < deadline {
            if let code = p.poll() {
                let said = (readWholeFile(output) ?? []).suffix(600)
                throw TestingFailure(description: "strata serve exited with \(code) at start on port \(port): \(String(decoding: said, as: UTF8.self))")
            }
            if let r = try? HTTPClient(port: port).request("GET", "/healthz"), r.status == 200 { return }
            usleep(50_000)
        }
        throw TestingFailure(description: "strata serve did not answer on port \(port)")
    }

    public func kill9() {
        process?.signal(SIGKILL)
        process?.wait()
        process = nil
    }

    @discardableResult
    public func stop() -> Int32? {
        defer { process = nil }
        return process?.stop(graceSeconds: 20)
    }

    public func client() -> HTTPClient { HTTPClient(port: port) }

    /// The managed Redis, for checking what the daemon wrote.
    public func redisPool() -> RedisPool { RedisPool(endpoint: RedisEndpoint(address: .unix(path: data + "/redis/redis.sock"))) }

    deinit {
        stop()
        // A daemon killed with SIGKILL leaves its redis-server: stop it too.
        if let pid = readWholeFile(data + "/redis/redis.pid").flatMap({ Int32(String(decoding: $0, as: UTF8.self).filter(\.isNumber)) }) {
            kill(pid, SIGTERM)
        }
        usleep(100_000)
        dir.remove()
        TestPorts.release(port)
    }
}

/// Sends bulks until each is acknowledged (retrying on 503), as a ticket service would.
public func sendAll(_ client: HTTPClient, _ bodies: [[UInt8]], headers: [(String, String)] = []) throws {
    for body in bodies {
        var tries = 0
        while true {
            let r = try client.request("POST", "/v1/events/_bulk", body: body, headers: headers)
            if r.status == 200 { break }
            tries += 1
            guard r.status == 503, tries < 200 else { throw HTTPClient.Failure(description: "bulk failed: \(r.status) \(r.text)") }
            usleep(50_000)
        }
    }
}
