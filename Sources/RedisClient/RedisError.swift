/// What went wrong talking to Redis.
public enum RedisError: Error, Equatable, CustomStringConvertible {
    /// Could not connect, or the connection broke (the connection is discarded).
    case connection(String)
    /// No reply within the timeout (the connection is discarded).
    case timeout(String)
    /// Redis answered with an error reply to `command`.
    case server(command: String, message: String)
    /// The bytes from Redis were not RESP.
    case protocolError(String)
    /// No connection could be had: Redis is down or the pool is exhausted; retry later.
    case unavailable(String)

    public var description: String {
        switch self {
        case .connection(let m): return "redis connection error: \(m)"
        case .timeout(let m): return "redis timeout: \(m)"
        case .server(let c, let m): return "redis error from \(c): \(m)"
        case .protocolError(let m): return "redis protocol error: \(m)"
        case .unavailable(let m): return "redis unavailable: \(m)"
        }
    }

    /// True when the connection must not be reused.
    public var breaksConnection: Bool {
        switch self {
        case .connection, .timeout, .protocolError: return true
        case .server, .unavailable: return false
        }
    }
}
