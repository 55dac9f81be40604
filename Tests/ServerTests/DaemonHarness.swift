#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import StrataCore
import RedisClient
import HotTier
import SystemSupport
import Workload

let root = ProjectPaths.root(fromSourceFile: #filePath)
let nextPort = Atomic<Int>(0)

/// A real `strata serve` process on a loopback port, with its own data directory.
final class DaemonHarness: @unchecked Sendable {
    let dir: TemporaryDirectory
    let port: Int
    let arguments: [String]
    private(set) var process: ChildProcess?
    var data: String { dir.path + "/data" }
    var log: String { dir.path + "/daemon.log" }

    /// Started from inside `dir` with `--data-dir data` (relative), as a user in a shell would.
    let relative: Bool

    init(_ extra: [String] = ["--insecure-no-auth"], directory: TemporaryDirectory? = nil, relative: Bool = false) throws {
        dir = try directory ?? TemporaryDirectory(prefix: "daemon")
        self.relative = relative
        // Below Linux's ephemeral range (32768 and up), where an outgoing connection of
        // another test could hold the port; LocalCluster uses 10000-12999 and +10000.
        // A port a daemon left behind by a crashed run still holds is skipped.
        var p = 23000 + Int(getpid() % 480) * 20 + nextPort.add(1, ordering: .relaxed).newValue % 20
        for _ in 0..<20 where !PortProbe.isFree(p) { p = 23000 + Int(getpid() % 480) * 20 + nextPort.add(1, ordering: .relaxed).newValue % 20 }
        port = p
        arguments = ["serve", "--data-dir", relative ? "data" : dir.path + "/data", "--listen", "127.0.0.1:\(port)"] + extra
        try start()
    }

    func start() throws {
        let output = log + ".\(Int(monotonicSeconds() * 1000))"
        let p = relative ? try ChildProcess("/bin/sh", ["-c", #"cd "$0" && exec "$@""#, dir.path, root + "/.build/debug/strata"] + arguments, stdout: output)
            : try ChildProcess(root + "/.build/debug/strata", arguments, stdout: output)
        process = p
        let deadline = monotonicSeconds() + 60
        while monotonicSeconds() < deadline {
            if let code = p.poll() {
                let said = (readWholeFile(output) ?? []).suffix(600)
                throw HTTPClient.Failure(description: "strata serve exited with \(code) at start on port \(port): \(String(decoding: said, as: UTF8.self))")
            }
            if let r = try? HTTPClient(port: port).request("GET", "/healthz"), r.status == 200 { return }
            usleep(50_000)
        }
        throw HTTPClient.Failure(description: "strata serve did not answer on port \(port)")
    }

    func kill9() {
        process?.signal(SIGKILL)
        process?.wait()
        process = nil
    }

    @discardableResult
    func stop() -> Int32? {
        defer { process = nil }
        return process?.stop(graceSeconds: 20)
    }

    func client() -> HTTPClient { HTTPClient(port: port) }

    /// The managed Redis, for checking what the daemon wrote.
    func redisPool() -> RedisPool { RedisPool(endpoint: RedisEndpoint(address: .unix(path: data + "/redis/redis.sock"))) }

    deinit {
        stop()
        // A daemon killed with SIGKILL leaves its redis-server: stop it too.
        if let pid = readWholeFile(data + "/redis/redis.pid").flatMap({ Int32(String(decoding: $0, as: UTF8.self).filter(\.isNumber)) }) {
            kill(pid, SIGTERM)
        }
        usleep(100_000)
        dir.remove()
    }
}

/// The generated stream as NDJSON lines, and the expected final states.
struct Stream {
    let lines: [[UInt8]]
    let expected: [Int64: JSONValue]

    static func make(tickets: Int, shuffle: Double = 0.05, dup: Double = 0.01, concurrent: Double = 0.05, in dir: String) throws -> Stream {
        let ev = dir + "/events.ndjson", ex = dir + "/expect.ndjson"
        var d = DeliveryOptions()
        (d.shuffle, d.dup, d.concurrent) = (shuffle, dup, concurrent)
        try Generator.writeEvents(tickets: tickets, delivery: d, to: ev, expect: ex)
        return try make(fromFiles: ev, expect: ex)
    }

    static func make(fromFiles ev: String, expect ex: String) throws -> Stream {
        let lines = readWholeFile(ev)!.split(separator: 0x0A).map { Array($0) }
        var expected = [Int64: JSONValue]()
        for line in readWholeFile(ex)!.split(separator: 0x0A) {
            let v = try JSONParser.parse(Array(line))
            guard case .integer(let id)? = v["id"] else { fatalError("expect line without id") }
            expected[id] = v
        }
        return Stream(lines: lines, expected: expected)
    }

    /// Bulk bodies of `size` lines.
    func bulks(_ lines: ArraySlice<[UInt8]>, size: Int) -> [[UInt8]] {
        stride(from: lines.startIndex, to: lines.endIndex, by: size).map { start in
            lines[start..<min(start + size, lines.endIndex)].joined(separator: [0x0A]).map { $0 }
        }
    }
}

/// Sends bulks until each is acknowledged (retrying on 503), as a ticket service would.
func sendAll(_ client: HTTPClient, _ bodies: [[UInt8]], headers: [(String, String)] = []) throws {
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

/// Field-by-field differences between the hot tier and the expected rows.
func mismatches(_ pool: RedisPool, _ expected: [Int64: JSONValue]) async throws -> [String] {
    let hot = HotTier(pool: pool)
    let ids = expected.keys.sorted()
    var problems = [String]()
    for start in stride(from: 0, to: ids.count, by: 2000) {
        let chunk = Array(ids[start..<min(start + 2000, ids.count)])
        for (id, t) in zip(chunk, try await hot.tickets(chunk)) {
            guard let t else { problems.append("ticket \(id) missing"); continue }
            for (i, def) in Tables.tickets.columns.enumerated() {
                let want: TicketEvent.Value
                switch expected[id]![def.name] {
                case .integer(let n)?: want = .integer(n)
                case .string(let s)?: want = def.type == .timestamp ? .integer(Timestamp.parse(s)!) : .string(s)
                default: want = .null
                }
                if (t.values[i] ?? .null) != want { problems.append("ticket \(id) \(def.name): \(t.values[i] ?? .null) != \(want)") }
            }
        }
    }
    return problems
}
