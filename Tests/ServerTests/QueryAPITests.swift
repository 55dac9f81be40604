import Testing
import StrataCore
import SystemSupport
import StrataTesting
import Workload
import RedisClient
import HotTier
import Dispatch
import Synchronization

@Suite(.serialized) struct QueryAPITests {
    @Test func postQueryAnswersFromTheHotTierWithJSONOrCSVAndPreciseErrors() async throws {
        let daemon = try DaemonHarness()
        let c = HTTPClient(port: daemon.port)
        let events = (1...3).map { id in
            #"{"op":"create","id":\#(id),"writer":"svc-1","vv":{"svc-1":1},"fields":{"created_at":"2026-10-0\#(id)T10:00:00Z","updated_at":"2026-10-0\#(id)T10:00:00Z","status":"new","priority":"high","channel":"\#(id == 3 ? "chat" : "email")","queue":"billing","customer_id":\#(id),"subject":"s","tags":"","reopen_count":0}}"#
        }.joined(separator: "\n")
        #expect(try c.request("POST", "/v1/events/_bulk", body: Array(events.utf8)).status == 200)
        let r = try c.request("POST", "/v1/query", body: Array(#"{"sql": "SELECT channel, count(*) AS n FROM tickets GROUP BY channel ORDER BY channel"}"#.utf8))
        #expect(r.status == 200)
        let json = try JSONParser.parse(r.body)
        #expect(json["rows"] == .array([.array([.string("chat"), .integer(1)]), .array([.string("email"), .integer(2)])]))
        #expect(json["columns"] == .array([.object([("name", .string("channel")), ("type", .string("VARCHAR"))]),
                                           .object([("name", .string("n")), ("type", .string("BIGINT"))])]))
        let csv = try c.request("POST", "/v1/query?format=csv", body: Array("SELECT id, created_at FROM tickets WHERE id <= 2 ORDER BY id".utf8))
        #expect(csv.status == 200)
        #expect(String(decoding: csv.body, as: UTF8.self) == "id,created_at\r\n1,2026-10-01 10:00:00+00\r\n2,2026-10-02 10:00:00+00\r\n")
        let bad = try c.request("POST", "/v1/query", body: Array(#"{"sql": "SELECT id,\n  nope FROM tickets"}"#.utf8))
        #expect(bad.status == 400)
        let err = try JSONParser.parse(bad.body)["error"]
        #expect(err?["code"] == .string("name") && err?["line"] == .integer(2) && err?["column"] == .integer(3))
        #expect(try c.request("POST", "/v1/query?format=xml", body: Array("SELECT 1 FROM tickets".utf8)).status == 400)
        // In another zone, days and shown times are local.
        let berlin = try c.request("POST", "/v1/query", body: Array(#"{"sql": "SELECT CAST(created_at AS DATE) AS d, created_at FROM tickets WHERE id = 1", "time_zone": "Europe/Berlin", "format": "csv"}"#.utf8))
        #expect(String(decoding: berlin.body, as: UTF8.self) == "d,created_at\r\n2026-10-01,2026-10-01 12:00:00+02\r\n")
        #expect(try c.request("POST", "/v1/query?time_zone=Mars/Olympus", body: Array("SELECT 1 FROM tickets".utf8)).status == 400)
        // strata query --server sends the same request and prints the answer or the error with its caret.
        let out = daemon.dir.path + "/q.out"
        #expect(try ChildProcess.run(try ProjectPaths.strata, ["query", "--server", "http://127.0.0.1:\(daemon.port)", "--format", "csv",
                                                                   "SELECT count(*) AS n FROM tickets"], stdout: out) == 0)
        #expect(String(decoding: readWholeFile(out) ?? [], as: UTF8.self) == "n\r\n3\r\n")
        // --format json is one shape with --server or without: an array of objects.
        let sqlJSON = "SELECT id, status, created_at FROM tickets ORDER BY id"
        #expect(try ChildProcess.run(try ProjectPaths.strata, ["query", "--server", "http://127.0.0.1:\(daemon.port)", "--format", "json", sqlJSON], stdout: out) == 0)
        let viaServer = String(decoding: readWholeFile(out) ?? [], as: UTF8.self)
        #expect(try ChildProcess.run(try ProjectPaths.strata, ["query", "--data-dir", daemon.data, "--format", "json", sqlJSON], stdout: out) == 0)
        let local = String(decoding: readWholeFile(out) ?? [], as: UTF8.self)
        #expect(viaServer == local && viaServer.hasPrefix("[{\"id\":1,"), "\(viaServer) vs \(local)")
        #expect(try ChildProcess.run(try ProjectPaths.strata, ["query", "--server", "http://127.0.0.1:\(daemon.port)",
                                                                   "SELECT nope FROM tickets"], stdout: out) == 1)
        #expect(String(decoding: readWholeFile(out) ?? [], as: UTF8.self).contains("name error at line 1, column 8: unknown column 'nope'"))
        // The query cache holds the three hot tickets, read whole once; /metrics says so.
        let metrics = try c.request("GET", "/metrics").text
        func value(_ name: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        #expect(value("strata_query_hot_cache_tickets") == 3, "\(metrics)")
        #expect(value("strata_query_hot_cache_reloads_total") == 1)
        #expect(value("strata_query_hot_cache_updates_total") != nil)
        _ = daemon.stop()
    }

    /// Answers stream: 20,000 cold rows arrive whole in every format; an error half-way ends a
    /// JSON or NDJSON answer with an "error" member and breaks a CSV answer's connection.
    @Test func answersStreamAndAnErrorHalfWayIsNeverACleanEnd() async throws {
        let daemon = try DaemonHarness()
        let csvPath = daemon.dir.path + "/t.csv"
        try Generator.writeSnapshot(rows: 20000, format: .csv, to: csvPath)
        #expect(try ChildProcess.run(try ProjectPaths.strata, ["import", "--data-dir", daemon.dir.path + "/data", csvPath], stdout: daemon.dir.path + "/import.out") == 0)
        let c = HTTPClient(port: daemon.port)
        let nd = try c.request("POST", "/v1/query?format=ndjson", body: Array("SELECT id, status FROM tickets".utf8))
        let lines = String(decoding: nd.body, as: UTF8.self).split(separator: "\n")
        #expect(nd.status == 200 && lines.count == 20000)
        let ids = Set(lines.compactMap { line -> Int64? in
            if case .integer(let i)? = try? JSONParser.parse(Array(line.utf8))["id"] { return i }
            return nil
        })
        #expect(ids.count == 20000, "every row once")
        #expect(nd.headers.contains { $0.0.lowercased() == "transfer-encoding" && $0.1 == "chunked" }, "streamed, not one body")
        let csv = try c.request("POST", "/v1/query?format=csv", body: Array("SELECT id FROM tickets WHERE id > 100 LIMIT 5000 OFFSET 10".utf8))
        #expect(String(decoding: csv.body, as: UTF8.self).split(separator: "\r\n").count == 5001)
        let sorted = try JSONParser.parse(try c.request("POST", "/v1/query", body: Array("SELECT id FROM tickets ORDER BY id DESC LIMIT 3".utf8)).body)
        #expect(sorted["rows"] == .array([.array([.integer(20000)]), .array([.integer(19999)]), .array([.integer(19998)])]))
        // Division by zero at id 15000, after the answer started.
        let failing = "SELECT id, 1 % (id - 15000) AS r FROM tickets"
        let json = try c.request("POST", "/v1/query", body: Array(failing.utf8))
        #expect(json.status == 200)
        let doc = try JSONParser.parse(json.body)
        #expect(doc["error"]?["code"] == .string("execution") && doc["columns"] != nil, "\(String(decoding: json.body.prefix(300), as: UTF8.self))")
        let ndFail = String(decoding: try c.request("POST", "/v1/query?format=ndjson", body: Array(failing.utf8)).body, as: UTF8.self)
        #expect(ndFail.split(separator: "\n").last?.hasPrefix(#"{"error":{"code":"execution""#) == true)
        #expect(throws: (any Error).self, "a CSV answer that broke off is not a clean end") {
            _ = try HTTPClient(port: daemon.port).request("POST", "/v1/query?format=csv", body: Array(failing.utf8))
        }
        // The daemon carries on.
        #expect(try c.request("POST", "/v1/query?format=csv", body: Array("SELECT count(*) AS n FROM tickets".utf8)).body == Array("n\r\n20000\r\n".utf8))
        _ = daemon.stop()
    }
}

/// Several daemons writing to one Redis Cluster at once.
@Suite(.serialized) struct ClusterDaemonTests {
    /// Three `strata serve --redis-cluster` processes, each sent a third of the stream at the
    /// same time: the final state is exactly `--expect`, and /metrics counts per node.
    @Test func threeDaemonsWritingToOneClusterConverge() async throws {
        let cluster = try LocalCluster(masters: 3)
        let seed = "127.0.0.1:\(cluster.ports[0])"
        let daemons = try (0..<3).map { _ in try DaemonHarness(["--insecure-no-auth", "--redis-cluster", seed]) }
        let stream = try GeneratedStream.make(tickets: 6000, in: daemons[0].dir.path)
        let bodies = stream.bulks(stream.lines[...], size: 400)
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 3) { k in
            let mine = bodies.enumerated().filter { $0.offset % 3 == k }.map(\.element)
            do { try sendAll(daemons[k].client(), mine) } catch { errors.withLock { $0.append("daemon \(k): \(error)") } }
        }
        #expect(errors.withLock { $0 } == [])
        #expect(try await stream.expected.hotMismatches(HotTier(pool: cluster.pool)).prefix(10) == [])
        let metrics = String(decoding: try daemons[1].client().request("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("strata_redis_node_round_trips_total{node=\"127.0.0.1:"), "per-node metrics")
        for d in daemons { d.stop() }
        // Strict durability checks every master: this cluster has no AOF, so the daemon refuses to start.
        #expect(throws: (any Error).self) { _ = try DaemonHarness(["--insecure-no-auth", "--redis-cluster", seed, "--durability", "strict"]) }
    }
}
