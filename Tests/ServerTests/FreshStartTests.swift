#if canImport(Glibc)
import Glibc
#endif
import Testing
import StrataCore
import RedisClient
import HotTier
import SystemSupport
import StrataTesting
import Workload

/// What a new user meets first: relative paths, the README's first write, incomplete
/// tickets, and the workload tools against a live daemon.
@Suite(.serialized) struct FreshStartTests {
    static let create = #"{"op":"create","id":1,"writer":"svc-1","vv":{"svc-1":1},"fields":{"status":"new","priority":"normal","channel":"email","queue":"billing","customer_id":4711,"subject":"Invoice 1001","tags":"invoice","reopen_count":0,"created_at":"2026-10-01T09:00:00Z","updated_at":"2026-10-01T09:00:00Z"}}"#

    func count(_ c: HTTPClient, _ sql: String) throws -> JSONValue? {
        let r = try c.request("POST", "/v1/query", body: Array(#"{"sql": \#(jsonString(sql))}"#.utf8))
        guard r.status == 200, case .array(let rows)? = try JSONParser.parse(r.body)["rows"], case .array(let first)? = rows.first else { return nil }
        return first.first
    }

    func metric(_ c: HTTPClient, _ name: String) throws -> Double? {
        let text = try c.request("GET", "/metrics").text
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    /// `strata serve --data-dir data` from inside a folder (redis-server changes into its
    /// --dir before it opens its log: a relative data dir once stopped the daemon at start),
    /// with a relative --auth-file.
    @Test func aRelativeDataDirAndTokensFileServe() async throws {
        let dir = try TemporaryDirectory(prefix: "rel")
        try writeWholeFile(dir.path + "/tokens.json", Array(#"{"tokens":[{"name":"svc","token":"relative-token-0123456789","scopes":["write","query"]}]}"#.utf8))
        let daemon = try DaemonHarness(["--auth-file", "tokens.json"], directory: dir, relative: true)
        let c = daemon.client()
        let auth = [("Authorization", "Bearer relative-token-0123456789")]
        #expect(try c.request("POST", "/v1/events", body: Array(Self.create.utf8), headers: auth).status == 200)
        #expect(try c.request("GET", "/v1/tickets/1", headers: auth).status == 200)
        #expect(access(dir.path + "/data/redis/redis.log", F_OK) == 0, "the managed redis-server logs under the relative data dir")
        // Its pid file is where the next start looks for a redis-server a killed daemon left behind.
        let pid = readWholeFile(dir.path + "/data/redis/redis.pid").flatMap { Int32(String(decoding: $0, as: UTF8.self).filter(\.isNumber)) }
        #expect(pid.map { kill($0, 0) == 0 } == true, "data/redis/redis.pid names the running redis-server")
        #expect(access(dir.path + "/data/auth.json", F_OK) != 0, "with --auth-file no token file is made in the data dir")
        _ = daemon.stop()
    }

    /// The daemon's malloc is jemalloc (`MemoryAllocator`, linked into `strata`): mapped into
    /// the process, loaded ahead of glibc (so its malloc and free are the ones every library
    /// calls), and named in the log at start.
    @Test func theDaemonAllocatesWithJemalloc() throws {
        let daemon = try DaemonHarness()
        defer { _ = daemon.stop() }
        let pid = try #require(daemon.process?.pid)
        let maps = String(decoding: readWholeFile("/proc/\(pid)/maps") ?? [], as: UTF8.self)
        #expect(maps.contains("/libjemalloc.so.2"), "libjemalloc is mapped into strata serve")
        let ldd = daemon.dir.path + "/ldd.out", logs = daemon.dir.path + "/logs.out"
        #expect(try ChildProcess.run("/usr/bin/ldd", [try ProjectPaths.strata], stdout: ldd) == 0)
        let order = String(decoding: readWholeFile(ldd) ?? [], as: UTF8.self)
        let je = order.range(of: "libjemalloc.so.2"), c = order.range(of: "libc.so.6")
        #expect(je != nil && c != nil && je!.lowerBound < c!.lowerBound, "jemalloc comes before glibc in the search order: \(order)")
        _ = try ChildProcess.run("/bin/sh", ["-c", #"cat "$0"/daemon.log*"#, daemon.dir.path], stdout: logs)
        let said = String(decoding: readWholeFile(logs) ?? [], as: UTF8.self)
        #expect(said.contains("memory allocator: jemalloc 5."), "the start log names the allocator: \(said.prefix(400))")
        #expect(said.contains("(freed pages returned after 1000 ms by a background thread)"), "MemoryAllocator.configure() ran before the daemon started")
    }

    /// `--redis` as a relative unix socket path.
    @Test func aRelativeRedisSocketPath() throws {
        let dir = try TemporaryDirectory(prefix: "relsock")
        _ = try ChildProcess.run("/bin/mkdir", ["-p", dir.path + "/r"])
        var rc = RedisServer.Config(directory: dir.path + "/r")
        rc.appendOnly = false
        let redis = RedisServer(rc)
        try redis.start()
        defer { redis.stop() }
        let daemon = try DaemonHarness(["--insecure-no-auth", "--redis", "r/redis.sock"], directory: dir, relative: true)
        #expect(try daemon.client().request("POST", "/v1/events", body: Array(Self.create.utf8)).status == 200)
        let out = dir.path + "/q.out"
        let code = try ChildProcess.run("/bin/sh", ["-c", #"cd "$0" && exec "$1" query --data-dir data --redis r/redis.sock --format csv "SELECT count(*) AS n FROM tickets""#,
                                                    dir.path, try ProjectPaths.strata], stdout: out)
        #expect(code == 0 && String(decoding: readWholeFile(out) ?? [], as: UTF8.self) == "n\r\n1\r\n", "\(String(decoding: readWholeFile(out) ?? [], as: UTF8.self))")
        _ = daemon.stop()
    }

    /// The README's first write counts as 1 in SQL; a create without required columns is
    /// refused with 422 naming them; patches before their create are kept, counted on
    /// /metrics and by `strata status`, and shown once the create arrives.
    @Test func whatTheAPIAcceptsSQLShows() async throws {
        let daemon = try DaemonHarness()
        let c = daemon.client()
        #expect(try c.request("POST", "/v1/events", body: Array(Self.create.utf8)).status == 200)
        #expect(try count(c, "SELECT count(*) FROM tickets") == .integer(1))

        let partial = #"{"op":"create","id":2,"writer":"svc-1","vv":{"svc-1":1},"fields":{"status":"new","channel":"email","created_at":"2026-10-01T09:00:00Z","updated_at":"2026-10-01T09:00:00Z"}}"#
        let r = try c.request("POST", "/v1/events", body: Array(partial.utf8))
        #expect(r.status == 422, "\(r.text)")
        #expect(r.text.contains("missing: priority, queue, customer_id, subject, tags, reopen_count") && r.text.contains(#""code":"incomplete_create""#), "\(r.text)")
        let bulk = try c.request("POST", "/v1/events/_bulk", body: Array(partial.utf8))
        #expect(bulk.status == 200 && bulk.text.contains(#""rejected":1"#) && bulk.text.contains("missing: priority"), "\(bulk.text)")
        #expect(try c.request("GET", "/v1/tickets/2").status == 404, "a refused create leaves nothing")

        // A patch first: kept, incomplete, not shown.
        let patch = #"{"op":"patch","id":3,"writer":"agent","vv":{"svc-2":1,"agent":1},"fields":{"status":"open","agent_id":9,"updated_at":"2026-10-01T10:00:00Z"}}"#
        #expect(try c.request("POST", "/v1/events", body: Array(patch.utf8)).status == 200)
        #expect(try metric(c, "strata_hot_incomplete_tickets") == 1)
        #expect(try metric(c, "strata_hot_tickets_tickets") == 2)
        #expect(try count(c, "SELECT count(*) FROM tickets") == .integer(1))
        let out = daemon.dir.path + "/status.out"
        #expect(try ChildProcess.run(try ProjectPaths.strata, ["status", "--data-dir", daemon.data], stdout: out) == 0)
        let status = String(decoding: readWholeFile(out) ?? [], as: UTF8.self)
        #expect(status.contains("2 ticket(s), 1 incomplete") && status.contains("incomplete  3"), "\(status)")

        // Its create arrives late: now it is whole, and SQL shows the patch's status on top.
        let late = Self.create.replacingOccurrences(of: #""id":1,"writer":"svc-1","vv":{"svc-1":1}"#, with: #""id":3,"writer":"svc-2","vv":{"svc-2":1}"#)
        #expect(try c.request("POST", "/v1/events", body: Array(late.utf8)).status == 200)
        #expect(try metric(c, "strata_hot_incomplete_tickets") == 0)
        #expect(try count(c, "SELECT count(*) FROM tickets") == .integer(2))
        #expect(try count(c, "SELECT status FROM tickets WHERE id = 3") == .string("open"))
        _ = daemon.stop()
    }

    /// `strata load` replays a generated stream: its summary counts every event, and the
    /// daemon ends exactly at the generator's final states.
    @Test func loadReplaysAGeneratedStreamExactly() async throws {
        let daemon = try DaemonHarness()
        let ev = daemon.dir.path + "/events.ndjson", ex = daemon.dir.path + "/expect.ndjson"
        var d = DeliveryOptions()
        (d.shuffle, d.dup) = (0.05, 0.02)
        let made = try Generator.writeEvents(tickets: 3000, delivery: d, to: ev, expect: ex)
        let out = daemon.dir.path + "/load.out"
        let code = try ChildProcess.run(try ProjectPaths.strata, ["load", ev, "--server", "http://127.0.0.1:\(daemon.port)",
                                                                        "--bulk", "500", "--connections", "3", "--progress", "0"], stdout: out)
        let summary = String(decoding: readWholeFile(out) ?? [], as: UTF8.self)
        #expect(code == 0, "\(summary)")
        #expect(summary.contains("events       \(made.events) in \((made.events + 499) / 500) request(s)"), "\(summary)")
        // Every line is applied or a duplicate; the copies the generator made are duplicates
        // (a copy of a create delivered after a later patch of the same writer is still one).
        #expect(summary.contains("applied \(made.events - made.duplicates), duplicates \(made.duplicates), refused 0"), "\(summary)")
        #expect(summary.contains("p99 ") && summary.contains("p999 "))
        let stream = try GeneratedStream.make(fromFiles: ev, expect: ex)
        let pool = daemon.redisPool()
        #expect(try await stream.expected.hotMismatches(HotTier(pool: pool)).prefix(10) == [])
        pool.shutdown()
        // A bad line is refused, named, and makes the exit status 1.
        try writeWholeFile(daemon.dir.path + "/bad.ndjson", Array("{\"op\":\"create\"}\n".utf8))
        #expect(try ChildProcess.run(try ProjectPaths.strata, ["load", daemon.dir.path + "/bad.ndjson", "--server", "http://127.0.0.1:\(daemon.port)",
                                                                     "--progress", "0"], stdout: out) == 1)
        #expect(String(decoding: readWholeFile(out) ?? [], as: UTF8.self).contains("refused 1"))
        _ = daemon.stop()
    }
}
