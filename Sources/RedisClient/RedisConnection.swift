#if canImport(Glibc)
import Glibc
#endif
import CHiredis

/// One blocking hiredis connection. Not thread-safe: a connection is used by one thread
/// at a time (the pool hands it out), which is why it is `@unchecked Sendable`.
public final class RedisConnection: @unchecked Sendable {
    public static let maxPipelineCommands = 100_000

    public let endpoint: RedisEndpoint
    private var context: UnsafeMutablePointer<redisContext>?

    /// Connects, sets the I/O timeout, and authenticates.
    public init(endpoint: RedisEndpoint, connectTimeoutMs: Int = 1000, ioTimeoutMs: Int = 5000) throws {
        self.endpoint = endpoint
        _ = ignoreSIGPIPE
        let tv = timeval(tv_sec: connectTimeoutMs / 1000, tv_usec: (connectTimeoutMs % 1000) * 1000)
        let c: UnsafeMutablePointer<redisContext>?
        switch endpoint.address {
        case .tcp(let host, let port): c = redisConnectWithTimeout(host, Int32(port), tv)
        case .unix(let path): c = redisConnectUnixWithTimeout(path, tv)
        }
        guard let c else { throw RedisError.connection("cannot allocate a hiredis context") }
        context = c
        if c.pointee.err != 0 {
            let message = Self.errorString(c)
            redisFree(c)
            context = nil
            throw RedisError.connection("\(endpoint): \(message)")
        }
        let io = timeval(tv_sec: ioTimeoutMs / 1000, tv_usec: (ioTimeoutMs % 1000) * 1000)
        redisSetTimeout(c, io)
        if case .tcp = endpoint.address { redisEnableKeepAlive(c) }
        if let password = endpoint.password {
            var auth = ["AUTH"]
            if let user = endpoint.username { auth.append(user) }
            auth.append(password)
            let reply = try pipeline([auth.map { Array($0.utf8) }])[0]
            if case .error(let e) = reply { close(); throw RedisError.server(command: "AUTH", message: e) }
        }
    }

    deinit { close() }

    public var isOpen: Bool { context != nil }

    public func close() {
        if let c = context { redisFree(c) }
        context = nil
    }

    static func errorString(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: c.pointee.errstr) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// Sends every command in one write and reads every reply: one round trip. Error
    /// replies come back as `.error` values, in place; connection problems throw (and
    /// close the connection, whose state is then unknown).
    public func pipeline(_ commands: [[[UInt8]]]) throws -> [RESPValue] {
        try pipeline(commands.map(RESPCommand.init))
    }

    /// The same with commands already encoded: their bytes, appended to hiredis's output
    /// buffer once (no per-argument formatting in hiredis, one copy of the bytes).
    public func pipeline(_ commands: [RESPCommand]) throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        try append(commands)
        return try receive(commands)
    }

    /// The first half of `pipeline`: every command appended and written, no reply read. With
    /// `receive`, one thread keeps several connections in flight at once (`RedisLinks`).
    public func send(_ commands: [RESPCommand]) throws {
        try append(commands)
        guard let c = context else { throw RedisError.connection("connection is closed") }
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(c, &done) != REDIS_OK { try fail(c, "write \(commands.first?.name ?? "")") }
        }
    }

    /// The second half: the replies to `commands`, sent before (`send`), in order (a command
    /// built of several, `RESPCommand.replies`, one reply each).
    public func receive(_ commands: [RESPCommand]) throws -> [RESPValue] {
        guard let c = context else { throw RedisError.connection("connection is closed") }
        var replies = [RESPValue]()
        replies.reserveCapacity(commands.count)
        for cmd in commands {
            for _ in 0..<cmd.replies {
                var out: UnsafeMutableRawPointer?
                if redisGetReply(c, &out) != REDIS_OK || out == nil { try fail(c, cmd.name) }
                replies.append(RESPValue(reply: out!.assumingMemoryBound(to: redisReply.self)))
                freeReplyObject(out)
            }
        }
        return replies
    }

    private func append(_ commands: [RESPCommand]) throws {
        guard let c = context else { throw RedisError.connection("connection is closed") }
        precondition(!commands.isEmpty && commands.count <= Self.maxPipelineCommands, "pipeline of \(commands.count) commands (1...\(Self.maxPipelineCommands))")
        var resp = [UInt8]()
        if commands.count == 1 { resp = commands[0].bytes } else {
            resp.reserveCapacity(commands.reduce(0) { $0 + $1.bytes.count })
            for cmd in commands { resp.append(contentsOf: cmd.bytes) }
        }
        let rc: Int32 = resp.withUnsafeBytes { raw in
            redisAppendFormattedCommand(c, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
        }
        if rc != REDIS_OK { try fail(c, "append \(commands[0].name)") }
    }

    /// One command; an error reply throws `.server`.
    @discardableResult
    public func command(_ args: String...) throws -> RESPValue {
        let reply = try pipeline([args.map { Array($0.utf8) }])[0]
        if case .error(let e) = reply { throw RedisError.server(command: args.first ?? "", message: e) }
        return reply
    }

    private func fail(_ c: UnsafeMutablePointer<redisContext>, _ what: String) throws -> Never {
        let err = c.pointee.err
        let message = Self.errorString(c)
        close()
        if err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK || message.contains("Resource temporarily unavailable")) {
            throw RedisError.timeout("\(endpoint): no reply to \(what)")
        }
        if err == REDIS_ERR_PROTOCOL { throw RedisError.protocolError("\(endpoint): \(message)") }
        throw RedisError.connection("\(endpoint): \(what): \(message.isEmpty ? "connection lost" : message)")
    }
}



/// hiredis writes with write(2): a peer that went away would raise SIGPIPE and kill the
/// process. Ignore it once, process-wide; the write then fails with EPIPE instead.
private let ignoreSIGPIPE: Void = {
    signal(SIGPIPE, SIG_IGN)
}()
