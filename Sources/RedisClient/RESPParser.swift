/// RESP2 replies parsed from bytes: pure functions, no socket, no hiredis reply objects.
///
/// A connection reads what the socket has into one buffer and asks `end(of:from:)` whether
/// a whole reply is there (a scan that skips bulk payloads by their length and builds
/// nothing), then `parse(_:from:)` builds it once. hiredis's reader made a reply object per
/// element (`calloc`, a `malloc` for its bytes) that was then copied into a `RESPValue`
/// and freed: three allocations per bulk where this makes one. hiredis's reader stays the
/// oracle: tests and the fuzzer feed both the same bytes (`RESPReader`).
///
/// Limits, as hiredis 0.14 and Redis set them: a bulk of at most 512 MiB (Redis's
/// `proto-max-bulk-len`), arrays nested at most 8 deep (an array at level 0...7, as
/// hiredis's reader), at most
/// 2^31 - 1 elements in an array, a status, error or integer line of at most 1 MiB. Bytes
/// past a limit, an unknown type byte, a length or an integer that is not one, a missing
/// CRLF: a protocol error that names the offset.
public enum RESPParser {
    public static let maxBulkBytes = 512 << 20
    /// The deepest level an array may be at (the reply itself: level 0).
    public static let maxDepth = 7
    public static let maxArrayElements = Int(Int32.max)
    public static let maxLineBytes = 1 << 20

    /// Where the reply starting at `start` ends (the index after it), nil when `bytes` does
    /// not hold all of it yet; throws when what is there is not RESP.
    public static func end(of bytes: UnsafeRawBufferPointer, from start: Int) throws -> Int? {
        try withUnsafeTemporaryAllocation(of: Int.self, capacity: maxDepth + 2) { pending in
            try end(of: bytes, from: start, pending: pending)
        }
    }

    /// `end(of:from:)` with `pending`: the elements still to skip at each open array level.
    private static func end(of bytes: UnsafeRawBufferPointer, from start: Int, pending: UnsafeMutableBufferPointer<Int>) throws -> Int? {
        var at = start
        var depth = 0
        pending[0] = 1  // the reply itself
        while depth >= 0 {
            if pending[depth] == 0 { depth -= 1; continue }
            pending[depth] -= 1
            guard at < bytes.count else { return nil }
            let type = bytes[at]
            guard let lineEnd = try lineEnd(bytes, from: at + 1) else { return nil }
            switch type {
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                at = lineEnd + 2
            case UInt8(ascii: ":"):
                _ = try integer(bytes, at + 1, lineEnd)
                at = lineEnd + 2
            case UInt8(ascii: "$"):
                let n = try length(bytes, at + 1, lineEnd, limit: maxBulkBytes, what: "bulk length")
                at = lineEnd + 2
                if n >= 0 {
                    guard at + n + 2 <= bytes.count else { return nil }
                    guard bytes[at + n] == 0x0D, bytes[at + n + 1] == 0x0A else {
                        throw RedisError.protocolError("RESP: a bulk of \(n) bytes at offset \(at) is not followed by CRLF")
                    }
                    at += n + 2
                }
            case UInt8(ascii: "*"):
                guard depth <= maxDepth else {
                    throw RedisError.protocolError("RESP: arrays nested more than \(maxDepth + 1) deep at offset \(at)")
                }
                let n = try length(bytes, at + 1, lineEnd, limit: maxArrayElements, what: "array length")
                at = lineEnd + 2
                if n > 0 {
                    depth += 1
                    pending[depth] = n
                }
            default:
                throw RedisError.protocolError("RESP: unknown reply type byte \(type) at offset \(at)")
            }
        }
        return at
    }

    /// The reply at `start`, which `end(of:from:)` found whole, and the index after it.
    public static func parse(_ bytes: UnsafeRawBufferPointer, from start: Int) throws -> (value: RESPValue, end: Int) {
        var at = start
        let value = try value(bytes, &at, depth: 0)
        return (value, at)
    }

    private static func value(_ bytes: UnsafeRawBufferPointer, _ at: inout Int, depth: Int) throws -> RESPValue {
        guard at < bytes.count, let lineEnd = try lineEnd(bytes, from: at + 1) else {
            throw RedisError.protocolError("RESP: a reply is cut short at offset \(at)")
        }
        let type = bytes[at]
        let line = UnsafeRawBufferPointer(rebasing: bytes[(at + 1)..<lineEnd])
        switch type {
        case UInt8(ascii: "+"):
            at = lineEnd + 2
            return .simple(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: "-"):
            at = lineEnd + 2
            return .error(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: ":"):
            let n = try integer(bytes, at + 1, lineEnd)
            at = lineEnd + 2
            return .integer(n)
        case UInt8(ascii: "$"):
            let n = try length(bytes, at + 1, lineEnd, limit: maxBulkBytes, what: "bulk length")
            at = lineEnd + 2
            guard n >= 0 else { return .null }
            guard at + n + 2 <= bytes.count, bytes[at + n] == 0x0D, bytes[at + n + 1] == 0x0A else {
                throw RedisError.protocolError("RESP: a bulk of \(n) bytes at offset \(at) is cut short or not followed by CRLF")
            }
            let source = bytes.baseAddress! + at  // copied as one block (`Array(slice)` went element by element)
            let payload = n == 0 ? [] : [UInt8](unsafeUninitializedCapacity: n) { out, count in
                UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(start: source, count: n))
                count = n
            }
            at += n + 2
            return .bulk(payload)
        case UInt8(ascii: "*"):
            guard depth <= maxDepth else {
                throw RedisError.protocolError("RESP: arrays nested more than \(maxDepth + 1) deep at offset \(at)")
            }
            let n = try length(bytes, at + 1, lineEnd, limit: maxArrayElements, what: "array length")
            at = lineEnd + 2
            guard n >= 0 else { return .null }
            // Each element takes at least 3 bytes: a claimed length past what is there is not reserved.
            var items = [RESPValue]()
            items.reserveCapacity(min(n, (bytes.count - at) / 3 + 1))
            for _ in 0..<n { items.append(try value(bytes, &at, depth: depth + 1)) }
            return .array(items)
        default:
            throw RedisError.protocolError("RESP: unknown reply type byte \(type) at offset \(at)")
        }
    }

    /// The index of the CR of the CRLF that ends the line starting at `from`; nil when the
    /// bytes end first. A line longer than `maxLineBytes`, or a CR not followed by LF, is an error.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int) throws -> Int? {
        var i = from
        let limit = min(bytes.count, from + maxLineBytes + 1)
        while i < limit {
            if bytes[i] == 0x0D {
                guard i + 1 < bytes.count else { return nil }
                guard bytes[i + 1] == 0x0A else { throw RedisError.protocolError("RESP: a CR not followed by LF at offset \(i)") }
                return i
            }
            i += 1
        }
        if i >= from + maxLineBytes + 1 { throw RedisError.protocolError("RESP: a line longer than \(maxLineBytes) bytes at offset \(from - 1)") }
        return nil
    }

    /// A signed decimal integer filling `bytes[from..<to]`, written as Redis writes one
    /// (hiredis's `string2ll`): no sign but a minus, no leading zero, no "-0".
    private static func integer(_ bytes: UnsafeRawBufferPointer, _ from: Int, _ to: Int) throws -> Int64 {
        var i = from
        var negative = false
        if i < to && bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < to, to - i <= 19, bytes[i] != UInt8(ascii: "0") || (to - i == 1 && !negative) else {
            throw RedisError.protocolError("RESP: not an integer at offset \(from)")
        }
        var n: Int64 = 0
        while i < to {
            let d = bytes[i] &- 0x30
            guard d < 10 else { throw RedisError.protocolError("RESP: not an integer at offset \(from)") }
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (s, o2) = negative ? m.subtractingReportingOverflow(Int64(d)) : m.addingReportingOverflow(Int64(d))
            guard !o1, !o2 else { throw RedisError.protocolError("RESP: an integer out of range at offset \(from)") }
            n = s
            i += 1
        }
        return n
    }

    /// A bulk or array length: -1 (null) or 0...limit.
    private static func length(_ bytes: UnsafeRawBufferPointer, _ from: Int, _ to: Int, limit: Int, what: String) throws -> Int {
        let n = try integer(bytes, from, to)
        guard n >= -1, n <= Int64(limit) else { throw RedisError.protocolError("RESP: \(what) \(n) at offset \(from) (-1...\(limit))") }
        return Int(n)
    }
}
