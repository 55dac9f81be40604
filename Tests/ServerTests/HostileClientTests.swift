#if canImport(Glibc)
import Glibc
#endif
import Testing
import Foundation
import StrataCore
import SystemSupport
import StrataTesting
import HotTier
@testable import Server

/// The hostile-client probe's faults (issue 13), each as it was reproduced, against a real
/// daemon: a clear error or the right answer, and the daemon still up.
@Suite(.serialized) struct HostileClientTests {
    func query(_ c: HTTPClient, _ body: String) throws -> HTTPClient.Response {
        try c.request("POST", "/v1/query", body: Array(body.utf8))
    }

    /// B1: one query of 12 KB overflowed the daemon's stack.
    @Test func deepExpressionsGetALimitErrorAndTheDaemonStaysUp() throws {
        let daemon = try DaemonHarness()
        let c = daemon.client()
        #expect(try c.request("POST", "/v1/events", body: Array(FreshStartTests.create.utf8)).status == 200)
        for sql in ["SELECT " + Array(repeating: "1", count: 3000).joined(separator: " + ") + " AS x FROM tickets LIMIT 1",
                    "SELECT " + String(repeating: "- ", count: 9990) + "id FROM tickets",
                    "SELECT count(*) FROM tickets WHERE " + String(repeating: "NOT ", count: 5000) + "id = 1",
                    "SELECT " + Array(repeating: "'a'", count: 3000).joined(separator: " || ") + " FROM tickets"] {
            let r = try c.request("POST", "/v1/query?format=csv", body: Array(sql.utf8))
            #expect(r.status == 422 && r.text.contains(#""code":"limit""#) && r.text.contains("200"), "\(r.status) \(r.text.prefix(200))")
            #expect(try c.request("GET", "/healthz").status == 200)
        }
        let or = "SELECT count(*) AS n FROM tickets WHERE " + (1...2000).map { "id = \($0)" }.joined(separator: " OR ")
        let r = try c.request("POST", "/v1/query?format=csv", body: Array(or.utf8))
        #expect(r.status == 200 && r.text == "n\r\n1\r\n", "\(r.text.prefix(200))")
        _ = daemon.stop()
    }

    /// B19, B24: the scheme in any case; a token that could never be sent is refused at start.
    @Test func bearerInAnyCaseAndTokensWithoutSpaces() throws {
        let store = try TokenStore.parse(Array(#"{"tokens":[{"name":"a","token":"token-0123456789abcdef","scopes":["query"]}]}"#.utf8), source: "t")
        for header in ["Bearer token-0123456789abcdef", "bearer token-0123456789abcdef", "BEARER  token-0123456789abcdef"] {
            #expect(store.authorize(header: header, scope: .query) == .allowed(name: "a"), "\(header)")
        }
        #expect(store.authorize(header: "Basic token-0123456789abcdef", scope: .query) == .unauthenticated)
        #expect(store.authorize(header: "Bearertoken-0123456789abcdef", scope: .query) == .unauthenticated)
        for bad in ["                    ", "token-0123456789abcdef ", "token 0123456789abcdef"] {
            do {
                _ = try TokenStore.parse(Array(#"{"tokens":[{"name":"a","token":"\#(bad)","scopes":["query"]}]}"#.utf8), source: "t")
                Issue.record("the token \"\(bad)\" was accepted")
            } catch { #expect("\(error)".contains("no spaces"), "\(error)") }
        }
    }

    /// B12, B13: the vector's counts go up to 2^40 as documented; its writer names follow the writer rules.
    @Test func vectorLimitsAsDocumented() {
        func event(_ vv: String) -> [UInt8] {
            Array(#"{"op":"patch","id":5,"writer":"w","vv":{\#(vv)},"fields":{"status":"open","updated_at":"2026-10-01T00:00:00Z"}}"#.utf8)
        }
        #expect((try? EventDecoder.decode(event(#""w":1099511627776"#))) != nil, "2^40 is within 1..2^40")
        #expect(throws: EventError.self) { try EventDecoder.decode(event(#""w":1099511627777"#)) }
        do { _ = try EventDecoder.decode(event(#""w":1,"a|b":2"#)); Issue.record("a writer name with | was accepted") } catch {
            #expect(error.field == "vv" && error.message.contains("'|', ',' or a control character"))
        }
        // A line break would split a change-log line in two (the log's lines are '\n'-separated).
        do { _ = try EventDecoder.decode(event(#""w":1,"a\nb":2"#)); Issue.record("a writer name with a line break was accepted") } catch {
            #expect(error.field == "vv" && error.message.contains("control character"))
        }
        #expect(throws: EventError.self) { try EventDecoder.decode(Array(#"{"op":"patch","id":5,"writer":"w\u0000","vv":{"w\u0000":1},"fields":{"status":"open","updated_at":"2026-10-01T00:00:00Z"}}"#.utf8)) }
        #expect(throws: EventError.self) { try EventDecoder.decode(event(#""w":1,"a,b":2"#)) }
    }

    /// B20, B25 and half an answer: unknown request keys are named; the least BIGINT is a
    /// BIGINT; a catalog that cannot be opened fails the query instead of leaving the cold tier out.
    @Test func requestsAreReadStrictlyAndNoTierIsLeftOutSilently() throws {
        let daemon = try DaemonHarness()
        let c = daemon.client()
        #expect(try c.request("POST", "/v1/events", body: Array(FreshStartTests.create.utf8)).status == 200)
        var r = try query(c, #"{"sql": "SELECT count(*) FROM tickets", "formt": "csv"}"#)
        #expect(r.status == 400 && r.text.contains(#"unknown key \"formt\""#), "\(r.text)")
        r = try query(c, #"{"sql": "SELECT -9223372036854775808 AS x, -9223372036854775807 - 1 AS y FROM tickets"}"#)
        #expect(r.status == 200 && r.text.contains(#"{"name":"x","type":"BIGINT"}"#) && r.text.contains("[-9223372036854775808,-9223372036854775808]"), "\(r.text)")
        // A catalog file that is not a database: the query fails and names it.
        try writeWholeFile(daemon.data + "/catalog.sqlite", Array(String(repeating: "not a database ", count: 100).utf8))
        r = try query(c, #"{"sql": "SELECT count(*) FROM tickets"}"#)
        #expect(r.status == 503 && r.text.contains("the cold tier cannot be read") && r.text.contains("catalog.sqlite"), "\(r.status) \(r.text)")
        _ = daemon.stop()
    }

    /// B23: `--timeout nan` stopped the CLI with SIGILL.
    @Test func aTimeoutThatIsNotANumberIsRefused() throws {
        let dir = try TemporaryDirectory(prefix: "timeout")
        defer { dir.remove() }
        for value in ["nan", "inf", "-1", "0"] {
            let out = dir.path + "/out.txt"
            let code = try ChildProcess.run(try ProjectPaths.strata, ["query", "--cold-only", "--data-dir", dir.path, "--timeout=\(value)", "SELECT 1 FROM tickets"], stdout: out)
            #expect(code == 64 && String(decoding: readWholeFile(out) ?? [], as: UTF8.self).contains("--timeout must be a number of seconds"), "\(value): \(code)")
        }
    }

    /// B3: a writer whose counters never join up (2, 4, 6, …) grew one ticket without bound and
    /// made every merge call scan it, until Redis answered BUSY to everyone. Now the ticket
    /// holds at most 1,024 such events, the rest are refused by name, and a call stays cheap.
    @Test func aWriterThatSkipsCountersCannotGrowATicketWithoutBound() async throws {
        let daemon = try DaemonHarness()
        let c = daemon.client()
        func patch(_ counter: Int) -> String {
            #"{"op":"patch","id":800001,"writer":"w","vv":{"w":\#(counter)},"fields":{"status":"open","updated_at":"2026-11-20T09:00:00Z"}}"#
        }
        let limit = HotTierLimits.maxPendingDotsPerTicket
        for round in 0..<2 {
            let body = (0..<10_000).map { patch(2 * (round * 10_000 + $0) + 2) }.joined(separator: "\n")
            let started = monotonicSeconds()
            let r = try c.request("POST", "/v1/events/_bulk", body: Array(body.utf8))
            let seconds = monotonicSeconds() - started
            #expect(r.status == 200, "\(r.text.prefix(300))")
            let j = try JSONParser.parse(r.body)
            #expect(j["applied"] == .integer(round == 0 ? Int64(limit) : 0) && j["rejected"] == .integer(round == 0 ? Int64(10_000 - limit) : 10_000), "\(r.text.prefix(200))")
            #expect(r.text.contains(#""code":"too_many_pending""#) && r.text.contains("already holds \(limit) events"))
            #expect(seconds < 5, "a bulk of 10,000 events for one ticket took \(seconds) s")
            // Meanwhile and after, other requests are answered at once.
            #expect(try c.request("GET", "/v1/tickets/31").status == 404)
        }
        let pool = daemon.redisPool()
        let size = try await pool.command(["STRLEN", KeyLayout().ticket(800001)]).int ?? 0
        #expect(size > 0 && size < 16_000, "the ticket's record is \(size) bytes")
        // The missing counter 1 arrives: the prefix moves on (1, 2), freeing one place.
        #expect(try c.request("POST", "/v1/events", body: Array(patch(1).utf8)).text.contains("applied"))
        #expect(try c.request("POST", "/v1/events", body: Array(patch(2 * 20_000 + 2).utf8)).text.contains("applied"))
        let single = try c.request("POST", "/v1/events", body: Array(patch(2 * 20_001 + 2).utf8))
        #expect(single.status == 422 && single.text.contains("too_many_pending"), "\(single.text)")
        pool.shutdown()
        _ = daemon.stop()
    }

    /// Every request with a body left a timer Task asleep for the whole body timeout (30 s),
    /// about 6 KB each: at 5,000 single events a second the daemon grew by 30 MB a second
    /// until the first timers ended (340 MB after 10 s). The timer now ends with its body.
    @Test func requestsAnsweredLeaveNothingBehind() throws {
        let daemon = try DaemonHarness()
        let c = daemon.client()
        let event = Array(FreshStartTests.create.utf8)
        func residentKB() -> Int {
            let status = String(decoding: readWholeFile("/proc/\(daemon.process!.pid)/status") ?? [], as: UTF8.self)
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
        }
        for _ in 0..<1000 { #expect(try c.request("POST", "/v1/events", body: event).status == 200) }
        let before = residentKB()
        let requests = 5000
        for _ in 0..<requests { _ = try c.request("POST", "/v1/events", body: event) }
        let grown = residentKB() - before
        #expect(before > 0 && grown < 10_000, "the daemon grew by \(grown) KB over \(requests) requests (\(grown * 1024 / requests) B each)")
        print("requestsAnsweredLeaveNothingBehind: \(grown) KB over \(requests) requests")
        _ = daemon.stop()
    }

    /// B2: connections that send half a request head, or half a body, were held forever; enough
    /// of them used up the file descriptors. Now idle connections close, a slow body gets 408,
    /// and past the connection limit new clients wait in the backlog and are then served.
    @Test func slowClientsAreClosedAndOthersStillServed() throws {
        let daemon = try DaemonHarness(["--insecure-no-auth", "--idle-timeout", "1", "--body-timeout", "1", "--max-connections", "64"])
        var slow = [Int32]()
        defer { for fd in slow { close(fd) } }
        for _ in 0..<150 {
            let fd = try RawConnection.open(port: daemon.port)
            RawConnection.send(fd, "GET /healthz HTTP/1.1\r\nHo")
            slow.append(fd)
        }
        let started = monotonicSeconds()
        let r = try daemon.client().request("GET", "/healthz")
        #expect(r.status == 200)
        #expect(monotonicSeconds() - started < 10, "a new client waited \(monotonicSeconds() - started) s")
        // Every half-sent request was closed by the daemon (a read sees the end).
        var closed = 0
        for fd in slow where RawConnection.readsEnd(fd, withinSeconds: 10) { closed += 1 }
        #expect(closed == slow.count, "\(closed) of \(slow.count) slow connections closed")
        _ = daemon.stop()
        // Half a body: 408 once the body timeout passes (before the idle timeout would close it
        // without an answer), and the connection closes.
        let patient = try DaemonHarness(["--insecure-no-auth", "--idle-timeout", "10", "--body-timeout", "1"])
        let fd = try RawConnection.open(port: patient.port)
        defer { close(fd) }
        RawConnection.send(fd, "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"op\":")
        let answer = RawConnection.read(fd, withinSeconds: 5)
        #expect(answer.hasPrefix("HTTP/1.1 408") && answer.contains("did not arrive within 1 s"), "\(answer.prefix(200))")
        let metrics = try patient.client().request("GET", "/metrics").text
        #expect(metrics.contains("strata_http_body_timeouts_total 1"), "\(metrics.split(separator: "\n").filter { $0.contains("timeout") })")
        _ = patient.stop()
    }
}

extension HostileClientTests {
    /// B9: `Expect: 100-continue` was never answered (curl waited a second per bulk over 1 MiB),
    /// and an oversized Content-Length was only refused after the body had been read.
    @Test func expectContinueIsAnsweredAndAnOversizedBodyIsRefusedUpFront() throws {
        let daemon = try DaemonHarness()
        let event = FreshStartTests.create
        let fd = try RawConnection.open(port: daemon.port)
        defer { close(fd) }
        RawConnection.send(fd, "POST /v1/events HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: \(event.utf8.count)\r\n\r\n")
        let interim = RawConnection.readSome(fd, withinSeconds: 2)
        #expect(interim.hasPrefix("HTTP/1.1 100 Continue"), "\(interim.prefix(100))")
        RawConnection.send(fd, event)
        let answer = RawConnection.readSome(fd, withinSeconds: 5)
        #expect(answer.contains("HTTP/1.1 200") && answer.contains("applied"), "\(answer.prefix(300))")
        // Nine megabytes announced, none sent: 413 at once, naming the limit.
        let big = try RawConnection.open(port: daemon.port)
        defer { close(big) }
        RawConnection.send(big, "POST /v1/events/_bulk HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 9000000\r\n\r\n")
        let refused = RawConnection.read(big, withinSeconds: 2)
        #expect(refused.hasPrefix("HTTP/1.1 413") && refused.contains("over the limit of 8388608 for /v1/events/_bulk"), "\(refused.prefix(300))")
        #expect(try daemon.client().request("GET", "/healthz").status == 200)
        _ = daemon.stop()
    }
}

extension HostileClientTests {
    /// B10, B11, B18, B22: infinities apart from NULL in JSON, values outside a column's domain
    /// refused, wrong methods 405 and unknown paths 404 with JSON bodies, Markdown rows kept whole.
    @Test func smallFaultsOfTheProbe() throws {
        let daemon = try DaemonHarness()
        let c = daemon.client()
        #expect(try c.request("POST", "/v1/events", body: Array(FreshStartTests.create.utf8)).status == 200)
        let json = try c.request("POST", "/v1/query", body: Array(#"{"sql": "SELECT 1 / 0 AS a, -1 / 0 AS b, 0 / 0 AS c, NULL AS d FROM tickets"}"#.utf8)).text
        #expect(json.contains(#"[["inf","-inf","nan",null]]"#), "\(json)")
        for (field, value) in [("satisfaction", "-100"), ("satisfaction", "6"), ("reopen_count", "-1"), ("agent_id", "0"), ("customer_id", "-5")] {
            let e = #"{"op":"patch","id":9,"writer":"a","vv":{"a":1},"fields":{"\#(field)":\#(value),"updated_at":"2026-10-01T00:00:00Z"}}"#
            let r = try c.request("POST", "/v1/events", body: Array(e.utf8))
            #expect(r.status == 400 && r.text.contains("fields.\(field)") && r.text.contains("got \(value)"), "\(field)=\(value): \(r.text)")
        }
        let put = try c.request("PUT", "/v1/events", body: Array(FreshStartTests.create.utf8))
        #expect(put.status == 405 && put.header("allow") == "POST" && put.text.contains("method_not_allowed"), "\(put.status) \(put.text)")
        let missing = try c.request("GET", "/v2/nothing")
        #expect(missing.status == 404 && missing.text.contains(#""code":"not_found""#), "\(missing.text)")
        #expect(try c.request("HEAD", "/healthz").status == 200)
        let md = try c.request("POST", "/v1/query?format=markdown", body: Array("SELECT 'a' || chr10 || 'b|c' AS x FROM tickets".replacingOccurrences(of: "chr10", with: "'\n'").utf8))
        #expect(md.text.contains("| a<br>b\\|c |"), "\(md.text)")
        _ = daemon.stop()
    }
}

extension HostileClientTests {
    /// The daemon says why it died, and its managed redis-server does not outlive it.
    @Test func aCrashIsLoggedAndLeavesNoRedisBehind() throws {
        let daemon = try DaemonHarness()
        let redisPID = try #require(readWholeFile(daemon.data + "/redis/redis.pid").flatMap { Int32(String(decoding: $0, as: UTF8.self).filter(\.isNumber)) })
        #expect(kill(redisPID, 0) == 0)
        let pid = try #require(daemon.process?.pid)
        kill(pid, SIGSEGV)
        _ = daemon.process?.wait()
        var gone = false
        for _ in 0..<100 where !gone { usleep(50_000); gone = kill(redisPID, 0) != 0 }
        #expect(gone, "the managed redis-server \(redisPID) outlived the crashed daemon")
        let logs = try FileManager.default.contentsOfDirectory(atPath: daemon.dir.path).filter { $0.hasPrefix("daemon.log") }
        let said = logs.map { String(decoding: readWholeFile(daemon.dir.path + "/" + $0) ?? [], as: UTF8.self) }.joined()
        #expect(said.contains("strata serve: died of signal \(SIGSEGV)"), "\(said.suffix(500))")
        // A new start finds nothing in its way.
        try daemon.start()
        #expect(try daemon.client().request("GET", "/healthz").status == 200)
        _ = daemon.stop()
    }
}

/// A bare TCP connection for sending what no well-behaved client sends.
enum RawConnection {
    static func open(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { close(fd); throw HTTPClient.Failure(description: "connect: \(errno)") }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    static func read(_ fd: Int32, withinSeconds s: Int) -> String {
        var tv = timeval(tv_sec: s, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var out = [UInt8](), chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// What arrives within the time, without waiting for the connection to close.
    static func readSome(_ fd: Int32, withinSeconds s: Int) -> String {
        var tv = timeval(tv_sec: s, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: chunk[0..<n], as: UTF8.self) : ""
    }

    /// Whether the peer closes the connection (a read returns 0) in time.
    static func readsEnd(_ fd: Int32, withinSeconds s: Int) -> Bool {
        var tv = timeval(tv_sec: s, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }
}

extension HostileClientTests {
    static func residentMegabytes(_ pid: Int32) -> Int {
        let status = String(decoding: readWholeFile("/proc/\(pid)/status") ?? [], as: UTF8.self)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }

    /// B4: 16 readers that asked for a long streamed answer and never read made the daemon
    /// hold each whole answer (+500 MB), and then held every query slot for good. Now a query
    /// runs a few 64 KiB pieces ahead of its reader, and a reader that stops reading for the
    /// idle timeout has its connection closed, which stops its query and frees its slot.
    @Test func readersThatDoNotReadHoldLittleAndAreClosed() throws {
        let daemon = try DaemonHarness(["--insecure-no-auth", "--idle-timeout", "6"])
        let c = daemon.client()
        let subject = String(repeating: "A", count: 65_536)
        let lines = (0..<300).map { i in
            FreshStartTests.create.replacingOccurrences(of: #""id":1"#, with: #""id":\#(1000 + i)"#)
                .replacingOccurrences(of: "Invoice 1001", with: subject)
        }
        for k in stride(from: 0, to: lines.count, by: 50) {
            let r = try c.request("POST", "/v1/events/_bulk", body: Array(lines[k..<k + 50].joined(separator: "\n").utf8))
            #expect(r.status == 200, "\(r.text.prefix(200))")
        }
        let body = #"{"sql":"SELECT subject FROM tickets","format":"ndjson"}"#
        let whole = try c.request("POST", "/v1/query", body: Array(body.utf8)).body.count
        #expect(whole > 300 * 65_536, "the answer has \(whole) bytes")
        let pid = try #require(daemon.process?.pid)
        let before = Self.residentMegabytes(pid)
        var readers = [Int32]()
        defer { for fd in readers { close(fd) } }
        for _ in 0..<StrataServer.maxConcurrentQueries {
            let fd = try RawConnection.open(port: daemon.port)
            var small: Int32 = 4096
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            RawConnection.send(fd, "POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            readers.append(fd)
        }
        // Each whole answer is 20 MB: holding them would be 320 MB.
        var most = before
        for _ in 0..<10 { usleep(500_000); most = max(most, Self.residentMegabytes(pid)) }
        #expect(most - before < 96, "16 readers that do not read grew the daemon by \(most - before) MB")
        // Past the idle timeout every stalled connection is closed and its slot is free again.
        var stalls = 0
        let deadline = monotonicSeconds() + 20
        while stalls < readers.count && monotonicSeconds() < deadline {
            usleep(500_000)
            let metrics = try c.request("GET", "/metrics").text
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("strata_http_write_stalls_total ") } ?? ""
            stalls = Int(line.split(separator: " ").last ?? "") ?? 0
        }
        #expect(stalls == readers.count, "\(stalls) of \(readers.count) stalled readers closed")
        let after = try c.request("POST", "/v1/query", body: Array(#"{"sql":"SELECT count(*) FROM tickets"}"#.utf8))
        #expect(after.status == 200 && after.text.contains("[[300]]"), "\(after.status) \(after.text.prefix(200))")
        _ = daemon.stop()
    }

    /// B17: an HTTP/1.0 request without `Connection: keep-alive` had its connection left open.
    @Test func http10ClosesUnlessAskedToKeepAlive() throws {
        let daemon = try DaemonHarness()
        let plain = try RawConnection.open(port: daemon.port)
        defer { close(plain) }
        RawConnection.send(plain, "GET /healthz HTTP/1.0\r\n\r\n")
        let answer = RawConnection.read(plain, withinSeconds: 5)  // reads until the daemon closes
        #expect(answer.contains(" 200 ") && answer.contains(#""status":"ok""#), "\(answer.prefix(200))")
        #expect(RawConnection.readsEnd(plain, withinSeconds: 1))
        let kept = try RawConnection.open(port: daemon.port)
        defer { close(kept) }
        for _ in 0..<2 {
            RawConnection.send(kept, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let r = RawConnection.readSome(kept, withinSeconds: 5)
            #expect(r.contains(" 200 "), "\(r.prefix(200))")
        }
        _ = daemon.stop()
    }
}
