/// The subset of MessagePack that Redis's cmsgpack writes for a ticket: arrays, strings,
/// integers, booleans, nil, doubles. Decoding is bounds-checked and depth-limited.
public indirect enum MsgPackValue: Sendable, Equatable {
    case nil_
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string([UInt8])
    case array([MsgPackValue])
    case map([(MsgPackValue, MsgPackValue)])

    public static func == (a: MsgPackValue, b: MsgPackValue) -> Bool {
        switch (a, b) {
        case (.nil_, .nil_): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.int(x), .int(y)): return x == y
        case let (.double(x), .double(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.map(x), .map(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }
}

public struct MsgPackError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "msgpack: \(message)" }
}

public enum MsgPack {
    public static func decode(_ bytes: [UInt8]) throws -> MsgPackValue {
        var pos = 0
        let v = try value(bytes, &pos, depth: 0)
        guard pos == bytes.count else { throw MsgPackError(message: "\(bytes.count - pos) trailing bytes") }
        return v
    }

    static func value(_ b: [UInt8], _ pos: inout Int, depth: Int) throws -> MsgPackValue {
        guard depth < 16 else { throw MsgPackError(message: "nested too deep") }
        func need(_ n: Int) throws { guard pos + n <= b.count else { throw MsgPackError(message: "truncated") } }
        func uint(_ n: Int) throws -> UInt64 {
            try need(n)
            var v: UInt64 = 0
            for i in 0..<n { v = v << 8 | UInt64(b[pos + i]) }
            pos += n
            return v
        }
        func str(_ n: Int) throws -> MsgPackValue {
            try need(n)
            defer { pos += n }
            return .string(Array(b[pos..<pos + n]))
        }
        func arr(_ n: Int) throws -> MsgPackValue {
            guard n <= b.count else { throw MsgPackError(message: "array length \(n) exceeds the input") }
            var out = [MsgPackValue]()
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try value(b, &pos, depth: depth + 1)) }
            return .array(out)
        }
        func map(_ n: Int) throws -> MsgPackValue {
            guard n <= b.count else { throw MsgPackError(message: "map length \(n) exceeds the input") }
            var out = [(MsgPackValue, MsgPackValue)]()
            for _ in 0..<n { out.append((try value(b, &pos, depth: depth + 1), try value(b, &pos, depth: depth + 1))) }
            return .map(out)
        }
        try need(1)
        let t = b[pos]
        pos += 1
        switch t {
        case 0x00...0x7F: return .int(Int64(t))
        case 0x80...0x8F: return try map(Int(t & 0x0F))
        case 0x90...0x9F: return try arr(Int(t & 0x0F))
        case 0xA0...0xBF: return try str(Int(t & 0x1F))
        case 0xC0: return .nil_
        case 0xC2: return .bool(false)
        case 0xC3: return .bool(true)
        case 0xC4, 0xD9: return try str(Int(try uint(1)))
        case 0xC5, 0xDA: return try str(Int(try uint(2)))
        case 0xC6, 0xDB: return try str(Int(try uint(4)))
        case 0xCA: return .double(Double(Float(bitPattern: UInt32(try uint(4)))))
        case 0xCB: return .double(Double(bitPattern: try uint(8)))
        case 0xCC: return .int(Int64(try uint(1)))
        case 0xCD: return .int(Int64(try uint(2)))
        case 0xCE: return .int(Int64(try uint(4)))
        case 0xCF:
            let v = try uint(8)
            guard v <= UInt64(Int64.max) else { throw MsgPackError(message: "uint64 out of range") }
            return .int(Int64(v))
        case 0xD0: return .int(Int64(Int8(truncatingIfNeeded: try uint(1))))
        case 0xD1: return .int(Int64(Int16(truncatingIfNeeded: try uint(2))))
        case 0xD2: return .int(Int64(Int32(truncatingIfNeeded: try uint(4))))
        case 0xD3: return .int(Int64(bitPattern: try uint(8)))
        case 0xDC: return try arr(Int(try uint(2)))
        case 0xDD: return try arr(Int(try uint(4)))
        case 0xDE: return try map(Int(try uint(2)))
        case 0xDF: return try map(Int(try uint(4)))
        case 0xE0...0xFF: return .int(Int64(Int8(bitPattern: t)))
        default: throw MsgPackError(message: "unsupported type byte 0x\(String(t, radix: 16))")
        }
    }
}
