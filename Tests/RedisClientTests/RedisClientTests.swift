import Testing
import SystemSupport
import StrataTesting
@testable import RedisClient
import CHiredis

/// A throwaway redis-server that also takes DEBUG commands (to stall or kill it on purpose).
func debugRedis(password: String? = nil, port: Int = 0) throws -> TestRedis {
    try TestRedis { c in
        c.password = password
        c.port = port
        c.extraArguments = ["--enable-debug-command", "local"]
    }
}

@Suite struct RESPReaderTests {
    @Test func parsesRepliesFedInPieces() throws {
        let r = RESPReader()
        r.feed(Array("+OK\r\n:42\r\n$5\r\nhel".utf8))
        #expect(try r.next() == .simple("OK"))
        #expect(try r.next() == .integer(42))
        #expect(try r.next() == nil)
        r.feed(Array("lo\r\n*3\r\n$-1\r\n-ERR bad\r\n*0\r\n".utf8))
        #expect(try r.next() == .bulk(Array("hello".utf8)))
        #expect(try r.next() == .array([.null, .error("ERR bad"), .array([])]))
        #expect(try r.next() == nil)
    }

    @Test func protocolErrorsThrow() {
        let r = RESPReader()
        r.feed(Array("?what\r\n".utf8))
        #expect(throws: RedisError.self) { try r.next() }
    }

    @Test func endpoints() throws {
        #expect(try RedisEndpoint.parse("redis://127.0.0.1:6390") == RedisEndpoint(address: .tcp(host: "127.0.0.1", port: 6390)))
        #expect(try RedisEndpoint.parse("redis://:s3cret@localhost") == RedisEndpoint(address: .tcp(host: "localhost", port: 6379), password: "s3cret"))
        #expect(try RedisEndpoint.parse("redis://app:pw@h:1/0") == RedisEndpoint(address: .tcp(host: "h", port: 1), username: "app", password: "pw"))
        #expect(try RedisEndpoint.parse("/run/redis.sock") == RedisEndpoint(address: .unix(path: "/run/redis.sock")))
        #expect(try RedisEndpoint.parse("unix:///run/r.sock") == RedisEndpoint(address: .unix(path: "/run/r.sock")))
        #expect(throws: RedisError.self) { try RedisEndpoint.parse("http://x") }
        #expect(throws: RedisError.self) { try RedisEndpoint.parse("redis://h:99999") }
    }
}

@Suite(.serialized) struct RedisConnectionTests {
    @Test func pipelineReturnsEveryReplyInOrderWithErrorsInPlace() throws {
        let redis = try debugRedis()
        let c = try RedisConnection(endpoint: redis.server.endpoint)
        let replies = try c.pipeline([["SET", "k", "v"], ["INCR", "k"], ["GET", "k"], ["RPUSH", "l", "a", "b"], ["LRANGE", "l", "0", "-1"]]
            .map { $0.map { Array($0.utf8) } })
        #expect(replies.count == 5)
        #expect(replies[0] == .simple("OK"))
        guard case .error(let e) = replies[1] else { Issue.record("INCR of a string should fail"); return }
        #expect(e.hasPrefix("ERR value is not an integer"))
        #expect(replies[2] == .bulk(Array("v".utf8)))
        #expect(replies[3] == .integer(2))
        #expect(replies[4] == .array([.bulk([0x61]), .bulk([0x62])]))
        // Binary-safe arguments, including NUL and the empty string.
        let blob: [UInt8] = [0, 1, 2, 0xFF, 0]
        _ = try c.pipeline([[Array("SET".utf8), [0, 0x6B], blob], [Array("SET".utf8), Array("e".utf8), []]])
        #expect(try c.pipeline([[Array("GET".utf8), [0, 0x6B]], [Array("GET".utf8), Array("e".utf8)]]) == [.bulk(blob), .bulk([])])
        #expect(throws: RedisError.server(command: "NOSUCHCOMMAND", message: "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: ")) {
            try c.command("NOSUCHCOMMAND")
        }
    }

    /// A pipeline whose replies are handed over one at a time, as read (a migration decodes
    /// one MGET while Redis runs the next): in order; an error thrown on one reply is thrown
    /// after every reply is read, so the pooled connection answers the next call rightly.
    @Test func repliesHandedOverAsReadInOrderAndAFailureLeavesTheConnectionClean() throws {
        let redis = try debugRedis()
        var one = RedisPool.Options()
        one.maxConnections = 1
        let pool = RedisPool(endpoint: redis.server.endpoint, options: one)
        let values = (0..<300).map { i in [UInt8](repeating: UInt8(i % 251), count: 1 + (i * 37) % 9000) }
        _ = try pool.pipelineBlocking(values.enumerated().map { i, v in [Array("SET".utf8), Array("k\(i)".utf8), v] })
        let gets = (0..<300).map { RESPCommand([Array("GET".utf8), Array("k\($0)".utf8)]) }
        var seen = [Int]()
        try pool.pipelineBlocking(gets) { i, reply in
            #expect(reply == .bulk(values[i]))
            seen.append(i)
        }
        #expect(seen == Array(0..<300))
        struct Stop: Error {}
        var handed = 0
        #expect(throws: Stop.self) {
            try pool.pipelineBlocking(gets) { i, _ in
                handed += 1
                if i == 10 { throw Stop() }
            }
        }
        #expect(handed == 11, "nothing is handed over after the failure")
        // One connection in the pool: the next call reads its own reply, not a leftover.
        #expect(try pool.pipelineBlocking([["GET", "k299"].map { Array($0.utf8) }]) == [.bulk(values[299])])
        #expect(try pool.pipelineBlocking([["ECHO", "after"].map { Array($0.utf8) }]) == [.bulk(Array("after".utf8))])
    }

    /// Several commands built into one buffer (`RESPCommand.Builder.next`) take one reply
    /// each, in order, beside ordinary commands in the same pipeline; `send` and `receive`
    /// split a pipeline, and `RedisLinks.exchange` runs one over several connections at once.
    @Test func commandsBuiltIntoOneBufferTakeOneReplyEach() throws {
        let redis = try debugRedis()
        var b = RESPCommand.Builder(arguments: 1)
        b.append("MULTI")
        b.next(arguments: 3)
        b.append("SET")
        b.append("k")
        b.append("7")
        b.next(arguments: 2)
        b.append("INCR")
        b.append("k")
        b.next(arguments: 1)
        b.append("EXEC")
        let tx = b.command(name: "MULTI", key: nil)
        #expect(tx.replies == 4)
        let c = try RedisConnection(endpoint: redis.server.endpoint)
        let replies = try c.pipeline([RESPCommand([Array("PING".utf8)]), tx, RESPCommand([Array("GET".utf8), Array("k".utf8)])])
        #expect(replies == [.simple("PONG"), .simple("OK"), .simple("QUEUED"), .simple("QUEUED"), .array([.simple("OK"), .integer(8)]), .bulk(Array("8".utf8))])
        let links = RedisLinks(endpoint: redis.server.endpoint, maxLinks: 3)
        let held = try links.checkout(3)
        let answers = try links.exchange(held, [[RESPCommand([Array("INCR".utf8), Array("k".utf8)])], [],
                                               [RESPCommand([Array("INCRBY".utf8), Array("j".utf8), Array("5".utf8)])]])
        #expect(answers.count == 3 && answers[1].isEmpty)
        #expect(answers[0] == [.integer(9)] && answers[2] == [.integer(5)])
        #expect(throws: RedisError.self) { _ = try links.checkout(1) }
        links.checkin(held)
        #expect(links.counts == (idle: 3, out: 0))
    }

    /// Replies that span many reads of the connection's buffer (`RESPParser` on a socket):
    /// values larger than a read, many small replies around them, the buffer grown and its
    /// unparsed rest moved to the front, and then given back once idle and large.
    @Test func repliesLargerThanAReadAndManyAroundThem() throws {
        let redis = try debugRedis()
        let c = try RedisConnection(endpoint: redis.server.endpoint)
        var big = [UInt8](repeating: 0, count: 3 << 20)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }  // CRLFs inside too
        #expect(try c.pipeline([[Array("SET".utf8), Array("big".utf8), big]]) == [.simple("OK")])
        var commands = [[[UInt8]]]()
        for i in 0..<3000 {
            commands.append([Array("SET".utf8), Array("k\(i)".utf8), Array(String(repeating: "v", count: i % 700).utf8)])
        }
        for i in 0..<3000 {
            commands.append([Array("GET".utf8), Array("k\(i)".utf8)])
            if i % 1000 == 500 { commands.append([Array("GET".utf8), Array("big".utf8)]) }
        }
        let replies = try c.pipeline(commands)
        #expect(replies.count == commands.count)
        #expect(replies.prefix(3000).allSatisfy { $0 == .simple("OK") })
        var at = 3000
        for i in 0..<3000 {
            #expect(replies[at] == .bulk(Array(String(repeating: "v", count: i % 700).utf8)), "GET k\(i)")
            at += 1
            if i % 1000 == 500 {
                #expect(replies[at] == .bulk(big), "GET big after k\(i)")
                at += 1
            }
        }
        // The connection goes on as before.
        #expect(try c.pipeline([[Array("PING".utf8)]]) == [.simple("PONG")])
    }

    @Test func authOverTCPAndWrongPassword() throws {
        let port = TestPorts.single()
        defer { TestPorts.release(port) }
        let redis = try debugRedis(password: "s3cret", port: port)
        let ok = try RedisConnection(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: port), password: "s3cret"))
        #expect(try ok.command("PING") == .simple("PONG"))
        #expect(throws: RedisError.self) {
            _ = try RedisConnection(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: port), password: "wrong"))
        }
        let anonymous = try RedisConnection(endpoint: RedisEndpoint(address: .tcp(host: "127.0.0.1", port: port)))
        do { try anonymous.command("GET", "x"); Issue.record("no auth accepted") } catch let e as RedisError {
            guard case .server(_, let m) = e else { Issue.record("\(e)"); return }
            #expect(m.hasPrefix("NOAUTH"))
        }
        _ = redis
    }

    @Test func slowServerTimesOutAndTheConnectionIsDropped() throws {
        let redis = try debugRedis()
        let c = try RedisConnection(endpoint: redis.server.endpoint, ioTimeoutMs: 200)
        let started = monotonicSeconds()
        #expect(throws: RedisError.self) { try c.command("DEBUG", "SLEEP", "1") }
        #expect(monotonicSeconds() - started < 0.9)
        #expect(!c.isOpen)
    }

    @Test func poolReconnectsAfterRedisRestartsAndBacksOffWhileItIsDown() throws {
        let redis = try debugRedis()
        var o = RedisPool.Options()
        o.backoffMinMs = 50
        let pool = RedisPool(endpoint: redis.server.endpoint, options: o)
        #expect(try pool.pipelineBlocking([[Array("PING".utf8)]]) == [.simple("PONG")])
        redis.server.stop()
        #expect(throws: RedisError.self) { try pool.pipelineBlocking([[Array("PING".utf8)]]) }
        // Down: the next call fails (connect refused), the one after fails fast (backoff).
        #expect(throws: RedisError.self) { try pool.pipelineBlocking([[Array("PING".utf8)]]) }
        do { _ = try pool.pipelineBlocking([[Array("PING".utf8)]]) } catch let e as RedisError {
            guard case .unavailable = e else { Issue.record("expected unavailable, got \(e)"); return }
        }
        try redis.server.start()
        usleep(300_000)
        #expect(try pool.pipelineBlocking([[Array("PING".utf8)]]) == [.simple("PONG")])
        #expect(pool.stats.reconnects.load(ordering: .relaxed) >= 2)
    }

    /// `RedisPool.transaction`: the commands' replies in order, an error reply of one in its
    /// place (as in a pipeline), all run in one go (`INFO commandstats`: one `EXEC`); a
    /// command Redis refuses when queuing aborts the whole transaction, which throws and
    /// applies nothing.
    @Test func aTransactionAnswersEachCommandAndAnAbortedOneAppliesNothing() async throws {
        let redis = try debugRedis()
        let pool = RedisPool(endpoint: redis.server.endpoint)
        let commands = [["SET", "k", "v"], ["INCR", "k"], ["RPUSH", "l", "a", "b"], ["GET", "k"]].map { RESPCommand($0.map { Array($0.utf8) }) }
        let replies = try await pool.transaction(commands)
        #expect(replies.count == 4)
        #expect(replies[0] == .simple("OK"))
        guard case .error(let e) = replies[1] else { Issue.record("INCR of a string should fail"); return }
        #expect(e.hasPrefix("ERR value is not an integer"))
        #expect(replies[2] == .integer(2) && replies[3] == .bulk(Array("v".utf8)))
        let stats = try await pool.command(["INFO", "commandstats"]).string ?? ""
        #expect(stats.contains("cmdstat_exec:calls=1,") && stats.contains("cmdstat_multi:calls=1,"))
        // GET with no key is refused when queued: EXECABORT, named with the refusal; SET not run.
        let aborted = [["SET", "other", "1"], ["GET"]].map { RESPCommand($0.map { Array($0.utf8) }) }
        await #expect {
            _ = try await pool.transaction(aborted)
        } throws: { error in
            guard case RedisError.server(let command, let message) = error else { return false }
            return command == "EXEC" && message.hasPrefix("EXECABORT") && message.contains("wrong number of arguments")
        }
        #expect(try await pool.command(["EXISTS", "other"]) == .integer(0))
        // The connection is usable after the abort.
        #expect(try await pool.transaction([RESPCommand([Array("GET".utf8), Array("k".utf8)])]) == [.bulk(Array("v".utf8))])
    }

    @Test func asyncPipelinesFromManyTasks() async throws {
        let redis = try debugRedis()
        let pool = RedisPool(endpoint: redis.server.endpoint)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<20 {
                group.addTask {
                    for _ in 0..<50 { _ = try await pool.command(["INCRBY", "n", "\(t)"]) }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await pool.command(["GET", "n"]).int == (0..<20).reduce(0) { $0 + Int64($1) * 50 })
        #expect(pool.stats.roundTrips.load(ordering: .relaxed) == 1001)
    }
}

#if canImport(Glibc)
import Glibc
import StrataCore
#endif

/// Commands are encoded as RESP by `RESPEncoder` and handed to hiredis whole: the bytes must
/// be exactly what hiredis's own formatter makes of the same arguments.
@Suite struct RESPEncoderTests {
    /// What hiredis's `redisFormatCommandArgv` makes of `args`.
    static func hiredisFormat(_ args: [[UInt8]]) -> [UInt8] {
        let copies = args.map { a -> UnsafeMutablePointer<CChar> in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(a.count, 1))
            a.withUnsafeBytes { raw in if let b = raw.baseAddress { UnsafeMutableRawPointer(p).copyMemory(from: b, byteCount: a.count) } }
            return p
        }
        defer { for p in copies { p.deallocate() } }
        var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
        var lengths = args.map(\.count)
        var target: UnsafeMutablePointer<CChar>?
        let length = redisFormatCommandArgv(&target, Int32(args.count), &pointers, &lengths)
        defer { redisFreeCommand(target) }
        return Array(UnsafeRawBufferPointer(start: target, count: Int(length)))
    }

    @Test func encodesAsHiredisFormats() {
        var out = [UInt8]()
        RESPEncoder.append([Array("GET".utf8), Array("k".utf8)], to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        var rng = SplitMix64(seed: testSeed("encodesAsHiredisFormats"))
        for _ in 0..<300 {
            // 1 to 40 arguments of 0 to 2,000 bytes (every byte value, CR and LF included).
            let argc = 1 + Int(rng.next() % 40)
            let args: [[UInt8]] = (0..<argc).map { _ in
                let n = [0, 1, 9, 10, 99, 100, 1000][Int(rng.next() % 7)] + Int(rng.next() % 1000)
                return (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            var mine = [UInt8]()
            RESPEncoder.append(args, to: &mine)
            #expect(mine == Self.hiredisFormat(args))
            if mine != Self.hiredisFormat(args) { break }
        }
    }

    /// A command built argument by argument (`RESPCommand.Builder`: bytes, strings,
    /// decimals, a prefix and a decimal) is the one hiredis formats from the
    /// same arguments as arrays.
    @Test func aBuiltCommandIsWhatHiredisFormats() {
        var rng = SplitMix64(seed: testSeed("aBuiltCommandIsWhatHiredisFormats"))
        let edges: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, 999_999, Int64.max, Int64.min, -9_007_199_254_740_993]
        for _ in 0..<300 {
            let argc = 1 + Int(rng.next() % 30)
            var args = [[UInt8]]()
            var b = RESPCommand.Builder(arguments: argc, capacity: Int(rng.next() % 64))
            for _ in 0..<argc {
                let n = rng.next() % 2 == 0 ? edges[Int(rng.next() % UInt64(edges.count))] : Int64(bitPattern: rng.next())
                let bytes: [UInt8] = (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                switch rng.next() % 4 {
                case 0: b.append(bytes); args.append(bytes)
                case 1: b.append(bytes[...]); args.append(bytes)
                case 2: b.append(decimal: n); args.append(Array(String(n).utf8))
                default: b.append(bytes, decimal: n); args.append(bytes + Array(String(n).utf8))
                }
            }
            let built = b.command(name: "X", key: nil)
            #expect(built.bytes == Self.hiredisFormat(args))
            #expect(built.bytes == RESPCommand(args).bytes)
            if built.bytes != Self.hiredisFormat(args) { break }
        }
        var s = RESPCommand.Builder(arguments: 2)
        s.append("GET")
        s.append("st:{7}:t:1")
        #expect(String(decoding: s.command(name: "GET", key: nil).bytes, as: UTF8.self) == "*2\r\n$3\r\nGET\r\n$10\r\nst:{7}:t:1\r\n")
    }
}
