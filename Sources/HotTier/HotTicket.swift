import StrataCore

/// A ticket as the hot tier holds it: the merged value of every field (nil where no
/// event has set it yet), and its version vector.
public struct HotTicket: Sendable, Equatable {
    public var id: Int64
    /// One entry per column of `Tables.tickets` (id and version are filled from the key and vector).
    public var values: [TicketEvent.Value?]
    public var vv: [(writer: String, count: Int64)]

    public var version: Int64 { vv.reduce(0) { $0 + $1.count } }

    public static func == (a: HotTicket, b: HotTicket) -> Bool {
        a.id == b.id && a.values == b.values && a.vv.map(\.writer) == b.vv.map(\.writer) && a.vv.map(\.count) == b.vv.map(\.count)
    }

    /// Decodes the msgpack value the merge script stores.
    public static func decode(id: Int64, _ bytes: [UInt8]) throws -> HotTicket {
        guard case .array(let parts) = try MsgPack.decode(bytes), parts.count == 6,
              case .array(let writers) = parts[0], case .array(let counts) = parts[1],
              case .array(let values) = parts[2], case .array(let stamps) = parts[3],
              writers.count == counts.count, values.count == MergeScript.fieldCount, stamps.count == MergeScript.fieldCount
        else { throw MsgPackError(message: "ticket \(id) is not [writers, counts, values, stamps, prefix, extra]") }
        var vv = [(writer: String, count: Int64)]()
        for (w, c) in zip(writers, counts) {
            guard case .string(let name) = w, case .int(let n) = c else { throw MsgPackError(message: "ticket \(id): bad vector entry") }
            vv.append((String(decoding: name, as: UTF8.self), n))
        }
        var out = [TicketEvent.Value?](repeating: nil, count: MergeScript.fieldCount)
        for (i, def) in Tables.tickets.columns.enumerated() {
            guard case .int(let stamp) = stamps[i] else { throw MsgPackError(message: "ticket \(id): bad stamp") }
            if stamp == 0 { continue }
            switch values[i] {
            case .bool(false), .nil_: out[i] = .null
            case .int(let n): out[i] = def.type.isInteger ? .integer(n) : .string(String(n))
            case .double(let d): out[i] = .integer(Int64(d))
            case .string(let s):
                let text = String(decoding: s, as: UTF8.self)
                if def.type.isInteger {
                    guard let n = Int64(text) else { throw MsgPackError(message: "ticket \(id): \(def.name) is not an integer") }
                    out[i] = .integer(n)
                } else {
                    out[i] = .string(text)
                }
            default: throw MsgPackError(message: "ticket \(id): bad value for \(def.name)")
            }
        }
        out[Tables.tickets.idColumnIndex] = .integer(id)
        let version = vv.reduce(0) { $0 + $1.count }
        out[Tables.tickets.index(of: "version")!] = .integer(version)
        return HotTicket(id: id, values: out, vv: vv)
    }

    /// The ticket as JSON, in the shape of `gen_tickets.py`'s rows, plus its vector.
    public func json() -> String {
        var parts = [String]()
        for (i, def) in Tables.tickets.columns.enumerated() {
            let text: String
            switch values[i] {
            case nil, .null?: text = "null"
            case .integer(let n)?: text = def.type == .timestamp ? "\"\(Timestamp.format(n))\"" : String(n)
            case .string(let s)?: text = jsonString(s)
            }
            parts.append("\"\(def.name)\":\(text)")
        }
        let vector = vv.map { "\(jsonString($0.writer)):\($0.count)" }.joined(separator: ",")
        return "{" + parts.joined(separator: ",") + ",\"vv\":{\(vector)}}"
    }
}

/// A JSON string literal.
public func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
