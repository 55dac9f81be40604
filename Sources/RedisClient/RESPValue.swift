import CHiredis

/// A reply from Redis (RESP2).
public enum RESPValue: Sendable, Equatable, CustomStringConvertible {
    case simple(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case null
    case array([RESPValue])

    /// Converts a hiredis reply tree (does not free it).
    init(reply p: UnsafeMutablePointer<redisReply>) {
        let r = p.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .bulk(r.len == 0 ? [] : Array(UnsafeRawBufferPointer(start: r.str, count: Int(r.len))))
        case REDIS_REPLY_STATUS:
            self = .simple(String(decoding: UnsafeRawBufferPointer(start: r.str, count: Int(r.len)), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: UnsafeRawBufferPointer(start: r.str, count: Int(r.len)), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var items = [RESPValue]()
            items.reserveCapacity(Int(r.elements))
            for i in 0..<Int(r.elements) { items.append(RESPValue(reply: r.element[i]!)) }
            self = .array(items)
        default:
            self = .null
        }
    }

    public var description: String {
        switch self {
        case .simple(let s): return s
        case .error(let e): return "(error) \(e)"
        case .integer(let i): return "(integer) \(i)"
        case .bulk(let b): return "\"\(String(decoding: b, as: UTF8.self))\""
        case .null: return "(nil)"
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        }
    }

    public var string: String? {
        switch self {
        case .simple(let s): return s
        case .bulk(let b): return String(decoding: b, as: UTF8.self)
        default: return nil
        }
    }

    public var int: Int64? {
        switch self {
        case .integer(let i): return i
        case .bulk(let b): return Int64(String(decoding: b, as: UTF8.self))
        default: return nil
        }
    }

    public var array: [RESPValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

/// RESP parsing from bytes, without a socket: hiredis's reader (read.c) fed by hand. The
/// oracle that tests and the `resp` fuzz target hold `RESPParser` (what connections parse
/// replies with) to.
public final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>

    public init(maxBufferBytes: Int = 64 << 20) {
        reader = redisReaderCreate()
        reader.pointee.maxbuf = maxBufferBytes
    }

    deinit { redisReaderFree(reader) }

    public func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { b in
            _ = redisReaderFeed(reader, b.baseAddress?.assumingMemoryBound(to: CChar.self), b.count)
        }
    }

    /// The next complete reply, nil if more bytes are needed; throws on a protocol error
    /// (the reader is then unusable, as in hiredis).
    public func next() throws -> RESPValue? {
        var out: UnsafeMutableRawPointer?
        if redisReaderGetReply(reader, &out) != REDIS_OK {
            let message = withUnsafeBytes(of: reader.pointee.errstr) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw RedisError.protocolError(message)
        }
        guard let out else { return nil }
        defer { freeReplyObject(out) }
        return RESPValue(reply: out.assumingMemoryBound(to: redisReply.self))
    }
}
