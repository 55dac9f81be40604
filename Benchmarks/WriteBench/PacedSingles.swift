#if canImport(Glibc)
import Glibc
#endif
import StrataCore
import SystemSupport

/// Single events at a fixed offered rate from one thread over `connections` keep-alive
/// connections (non-blocking sockets and `ppoll`, as wrk2 does): request k is due at
/// start + k / rate and goes on the first free connection at or after that moment.
/// Latency counts from when a request was due (no coordinated omission: a daemon that
/// falls behind shows as latency), and the service time from when it was sent.
///
/// One thread rather than one per connection: on this 2-core machine 16 client threads
/// waking in turn competed with the daemon and Redis for the cores, and their own wake-ups
/// were counted as the daemon's latency.
struct PacedSingles {
    struct Result {
        var fromDue: [Double] = []    // ms
        var service: [Double] = []    // ms
        var seconds = 0.0
    }

    let port: Int
    let rate: Double
    let connections: Int

    final class Connection {
        let fd: Int32
        var inbox = [UInt8]()
        var request = -1        // the request in flight, -1: free
        var sentAt = 0.0
        init(fd: Int32) { self.fd = fd }
    }

    /// Each body as a `POST /v1/events`.
    func run(_ bodies: [[UInt8]]) -> Result {
        run(requests: bodies.map { body in
            Array("POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
        })
    }

    /// `count` requests for the HTTP server alone (`GET /healthz`: no body, no Redis), the
    /// anchor beside the single events: what any request costs the daemon at this rate.
    func runHealthChecks(_ count: Int) -> Result {
        run(requests: Array(repeating: Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8), count: count))
    }

    /// Whole HTTP/1.1 requests, each answered before its connection takes another.
    func run(requests: [[UInt8]]) -> Result {
        let conns = (0..<connections).map { _ in Connection(fd: Self.connect(port: port)) }
        defer { for c in conns { close(c.fd) } }
        var result = Result()
        result.fromDue.reserveCapacity(requests.count)
        result.service.reserveCapacity(requests.count)
        let started = monotonicSeconds() + 0.05
        func due(_ k: Int) -> Double { started + Double(k) / rate }
        var next = 0, answered = 0
        var free = Array(conns.indices.reversed())
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while answered < requests.count {
            var now = monotonicSeconds()
            // Send every request that is due, while a connection is free.
            while next < requests.count, due(next) <= now, let k = free.popLast() {
                let c = conns[k]
                c.request = next
                c.sentAt = now
                Self.sendAll(c.fd, requests[next])
                next += 1
                now = monotonicSeconds()
            }
            // Wait for an answer, or until the next request is due.
            // (select: ppoll, with its finer timeout than poll's milliseconds, is not in Glibc's module.)
            let busy = conns.filter { $0.request >= 0 }
            let wait = next < requests.count && !free.isEmpty ? max(0, due(next) - monotonicSeconds()) : 1.0
            var readable = fd_set()
            for c in busy { Self.add(c.fd, to: &readable) }
            var tv = timeval(tv_sec: Int(wait), tv_usec: Int((wait - Double(Int(wait))) * 1e6))
            let n = select((busy.map(\.fd).max() ?? 0) + 1, &readable, nil, nil, &tv)
            guard n > 0 else { continue }
            for c in busy where Self.contains(c.fd, readable) {
                let got = read(c.fd, &buffer, buffer.count)
                if got <= 0 { fatalError("the daemon closed a connection (read \(got), errno \(errno))") }
                c.inbox += buffer[0..<got]
                guard let status = Self.completeResponse(&c.inbox) else { continue }
                if status != 200 && status != 400 { fatalError("single request failed: HTTP \(status): \(String(decoding: c.inbox.prefix(300), as: UTF8.self))") }
                let t = monotonicSeconds()
                result.fromDue.append((t - due(c.request)) * 1000)
                result.service.append((t - c.sentAt) * 1000)
                c.request = -1
                free.append(conns.firstIndex { $0 === c }!)
                answered += 1
            }
        }
        result.seconds = monotonicSeconds() - started
        return result
    }

    /// The status of the response at the front of `inbox` once it is whole (and removes
    /// it), else nil. Answers carry Content-Length (the daemon does not chunk them).
    static func completeResponse(_ inbox: inout [UInt8]) -> Int? {
        guard inbox.count >= 16 else { return nil }
        var end = -1
        for i in 3..<inbox.count where inbox[i] == 0x0A && inbox[i - 1] == 0x0D && inbox[i - 2] == 0x0A && inbox[i - 3] == 0x0D {
            end = i + 1
            break
        }
        guard end > 0 else { return nil }
        // Content-Length's digits, read as bytes (in a Swift String "\r\n" is one Character).
        let head = Array(String(decoding: inbox[0..<end], as: UTF8.self).lowercased().utf8)
        let name = Array("content-length:".utf8)
        var length = 0
        if let at = (0...(head.count - name.count)).first(where: { head[$0..<($0 + name.count)].elementsEqual(name) }) {
            for b in head[(at + name.count)...] where b != 0x20 {
                guard b >= 0x30 && b <= 0x39 else { break }
                length = length * 10 + Int(b - 0x30)
            }
        }
        guard inbox.count >= end + length else { return nil }
        let status = Int(String(decoding: inbox[9..<12], as: UTF8.self)) ?? 0
        inbox.removeFirst(end + length)
        return status
    }

    static func add(_ fd: Int32, to set: inout fd_set) {
        precondition(fd >= 0 && fd < 1024, "select takes descriptors under 1024")
        withUnsafeMutableBytes(of: &set) { $0.bindMemory(to: UInt64.self)[Int(fd) / 64] |= 1 << UInt64(fd % 64) }
    }

    static func contains(_ fd: Int32, _ set: fd_set) -> Bool {
        withUnsafeBytes(of: set) { $0.bindMemory(to: UInt64.self)[Int(fd) / 64] & (1 << UInt64(fd % 64)) != 0 }
    }

    static func connect(port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        precondition(rc == 0, "connect to 127.0.0.1:\(port) failed: errno \(errno)")
        return fd
    }

    /// Writes all of `bytes` (a request of a few hundred bytes: one write, in practice).
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, bytes.count - sent) }
            precondition(n > 0, "write failed: errno \(errno)")
            sent += n
        }
    }
}
