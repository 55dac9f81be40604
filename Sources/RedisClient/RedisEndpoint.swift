/// Where a Redis server listens, and how to log in.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var address: Address
    public var username: String?
    public var password: String?

    public init(address: Address, username: String? = nil, password: String? = nil) {
        self.address = address
        self.username = username
        self.password = password
    }

    /// Parses `redis://[[user]:password@]host[:port]`, `unix:///path/to/socket` or a
    /// plain path starting with `/` or `.`.
    public static func parse(_ text: String) throws -> RedisEndpoint {
        // A unix socket path, absolute or relative (`data/redis/redis.sock`, `./r.sock`).
        if !text.contains("://") && (text.contains("/") || text.hasSuffix(".sock")) { return RedisEndpoint(address: .unix(path: text)) }
        if text.hasPrefix("unix://") {
            let path = String(text.dropFirst("unix://".count))
            guard !path.isEmpty else { throw RedisError.connection("empty unix socket path in \(text)") }
            return RedisEndpoint(address: .unix(path: path))
        }
        guard text.hasPrefix("redis://") else {
            throw RedisError.connection("unsupported Redis address \"\(text)\": use redis://host:port or a unix socket path")
        }
        var rest = Substring(text.dropFirst("redis://".count))
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var user: String? = nil, pass: String? = nil
        if let at = rest.lastIndex(of: "@") {
            let cred = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = cred.firstIndex(of: ":") {
                user = cred[..<colon].isEmpty ? nil : String(cred[..<colon])
                pass = String(cred[cred.index(after: colon)...])
            } else {
                pass = String(cred)
            }
        }
        var host = String(rest), port = 6379
        if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), p > 0, p < 65536 else {
                throw RedisError.connection("invalid port in \(text)")
            }
            port = p
        }
        guard !host.isEmpty else { throw RedisError.connection("no host in \(text)") }
        return RedisEndpoint(address: .tcp(host: host, port: port), username: user, password: pass)
    }

    public var description: String {
        switch address {
        case .tcp(let h, let p): return "redis://\(h):\(p)"
        case .unix(let path): return "unix://\(path)"
        }
    }
}
