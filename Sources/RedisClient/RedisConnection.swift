#if canImport(Glibc)
import Glibc
#endif
import CHiredis

/// One blocking connection. hiredis connects it (TCP or unix socket, the timeouts, keepalive)
/// and closes it; commands are written to its socket as they were built, and replies are
/// read into one buffer and parsed by `RESPParser` (hiredis's reader made three allocations
/// of every bulk it read). Not thread-safe: a connection is used by one thread at a time
/// (the pool hands it out), which is why it is `@unchecked Sendable`.
public final class RedisConnection: @unchecked Sendable {
    public static let maxPipelineCommands = 100_000
    /// Most bytes read ahead of the replies parsed: one bulk at its limit, and some.
    static let maxBufferedBytes = RESPParser.maxBulkBytes + (16 << 20)
    /// A read asks the socket for at least this much.
    static let readSize = 256 << 10
    /// An idle buffer larger than this is given back (one large reply does not pin it).
    static let keptBufferBytes = 4 << 20

    public let endpoint: RedisEndpoint
    private var context: UnsafeMutablePointer<redisContext>?
    /// Bytes read from the socket: `inbox[head..<tail]` are not parsed yet.
    private var inbox = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private var head = 0, tail = 0

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

    deinit {
        close()
        inbox.deallocate()
    }

    public var isOpen: Bool { context != nil }

    public func close() {
        if let c = context { redisFree(c) }
        context = nil
        head = 0
        tail = 0
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

    /// The same with commands already encoded: their bytes, written as they are.
    public func pipeline(_ commands: [RESPCommand]) throws -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        try send(commands)
        return try receive(commands)
    }

    /// The first half of `pipeline`: every command written, no reply read. With `receive`,
    /// one thread keeps several connections in flight at once (`RedisLinks`).
    public func send(_ commands: [RESPCommand]) throws {
        guard let c = context else { throw RedisError.connection("connection is closed") }
        precondition(!commands.isEmpty && commands.count <= Self.maxPipelineCommands, "pipeline of \(commands.count) commands (1...\(Self.maxPipelineCommands))")
        if commands.count == 1 {
            try commands[0].bytes.withUnsafeBytes { try write(c, $0, commands[0].name) }
            return
        }
        var resp = [UInt8]()
        resp.reserveCapacity(commands.reduce(0) { $0 + $1.bytes.count })
        for cmd in commands { resp.append(contentsOf: cmd.bytes) }
        try resp.withUnsafeBytes { try write(c, $0, commands[0].name) }
    }

    /// The second half: the replies to `commands`, sent before (`send`), in order (a command
    /// built of several, `RESPCommand.replies`, one reply each).
    public func receive(_ commands: [RESPCommand]) throws -> [RESPValue] {
        var replies = [RESPValue]()
        replies.reserveCapacity(commands.reduce(0) { $0 + $1.replies })
        try receive(commands) { _, value in replies.append(value) }
        return replies
    }

    /// The same, each reply handed to `each` (its position, in order) as soon as it is read:
    /// the caller works on one while Redis still computes the next ones (a migration parses
    /// one MGET of tickets while Redis runs the next). Every reply is read, whatever `each`
    /// does; the first error `each` threw is thrown after them, so the connection stays clean.
    public func receive(_ commands: [RESPCommand], each: (Int, RESPValue) throws -> Void) throws {
        guard let c = context else { throw RedisError.connection("connection is closed") }
        var at = 0
        var failure: (any Error)?
        for cmd in commands {
            for _ in 0..<cmd.replies {
                let value = try reply(c, cmd.name)
                if failure == nil {
                    do { try each(at, value) } catch { failure = error }
                }
                at += 1
            }
        }
        // An idle buffer larger than this is given back (one large reply does not pin it).
        if head == tail, inbox.count > Self.keptBufferBytes {
            inbox.deallocate()
            inbox = UnsafeMutableRawBufferPointer(start: nil, count: 0)
            head = 0
            tail = 0
        }
        if let failure { throw failure }
    }

    /// The next reply: parsed from the buffer once all of it is there, read until it is.
    private func reply(_ c: UnsafeMutablePointer<redisContext>, _ what: String) throws -> RESPValue {
        while true {
            let found: (value: RESPValue, end: Int)?
            do {
                let window = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(inbox)[0..<tail])
                found = try RESPParser.end(of: window, from: head) == nil ? nil : RESPParser.parse(window, from: head)
            } catch {
                close()
                throw RedisError.protocolError("\(endpoint): reply to \(what): \(error)")
            }
            if let found {
                head = found.end
                if head == tail { head = 0; tail = 0 }
                return found.value
            }
            try fill(c, what)
        }
    }

    /// Reads what the socket has (at least one byte) after the unparsed bytes, moving them to
    /// the front or growing the buffer first when there is little room.
    private func fill(_ c: UnsafeMutablePointer<redisContext>, _ what: String) throws {
        if inbox.count - tail < Self.readSize {
            let unparsed = tail - head
            if head > 0 && inbox.count - unparsed >= Self.readSize {
                if unparsed > 0 { inbox.baseAddress!.copyMemory(from: inbox.baseAddress! + head, byteCount: unparsed) }
            } else {
                let size = max(inbox.count * 2, unparsed + Self.readSize)
                guard unparsed + Self.readSize <= Self.maxBufferedBytes else {
                    close()
                    throw RedisError.protocolError("\(endpoint): reply to \(what) is larger than \(Self.maxBufferedBytes) bytes")
                }
                let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: min(size, Self.maxBufferedBytes), alignment: 16)
                if unparsed > 0 { grown.baseAddress!.copyMemory(from: inbox.baseAddress! + head, byteCount: unparsed) }
                inbox.deallocate()
                inbox = grown
            }
            head = 0
            tail = unparsed
        }
        while true {
            let n = Glibc.read(c.pointee.fd, inbox.baseAddress! + tail, inbox.count - tail)
            if n > 0 { tail += n; return }
            let err = errno
            if n < 0 && err == EINTR { continue }
            try failIO(n == 0 ? nil : err, "reply to \(what)")
        }
    }

    private func write(_ c: UnsafeMutablePointer<redisContext>, _ bytes: UnsafeRawBufferPointer, _ what: String) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(c.pointee.fd, bytes.baseAddress! + done, bytes.count - done)
            if n > 0 { done += n; continue }
            let err = errno
            if n < 0 && err == EINTR { continue }
            try failIO(n == 0 ? nil : err, "write \(what)")
        }
    }

    /// A read or write that failed (`errno`; nil: the peer closed): closes the connection.
    private func failIO(_ err: Int32?, _ what: String) throws -> Never {
        close()
        guard let err else { throw RedisError.connection("\(endpoint): \(what): connection lost (closed by the server)") }
        if err == EAGAIN || err == EWOULDBLOCK { throw RedisError.timeout("\(endpoint): no reply to \(what)") }
        throw RedisError.connection("\(endpoint): \(what): \(String(cString: strerror(err)))")
    }

    /// One command; an error reply throws `.server`.
    @discardableResult
    public func command(_ args: String...) throws -> RESPValue {
        let reply = try pipeline([args.map { Array($0.utf8) }])[0]
        if case .error(let e) = reply { throw RedisError.server(command: args.first ?? "", message: e) }
        return reply
    }

}



/// hiredis writes with write(2): a peer that went away would raise SIGPIPE and kill the
/// process. Ignore it once, process-wide; the write then fails with EPIPE instead.
private let ignoreSIGPIPE: Void = {
    signal(SIGPIPE, SIG_IGN)
}()
