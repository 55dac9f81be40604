import StrataCore

/// A ticket as the hot tier holds it: the merged value of every field (nil where no
/// event has set it yet), and its version vector.
public struct HotTicket: Sendable, Equatable {
    public var id: Int64
    /// One entry per column of `Tables.tickets` (id and version are filled from the key and vector).
    public var values: [TicketEvent.Value?]
    public var vv: [(writer: String, count: Int64)]

    public var version: Int64 { vv.reduce(0) { $0 + $1.count } }

    public init(id: Int64, values: [TicketEvent.Value?], vv: [(writer: String, count: Int64)]) {
        precondition(values.count == MergeScript.fieldCount)
        self.id = id
        self.values = values
        self.vv = vv
    }

    public static func == (a: HotTicket, b: HotTicket) -> Bool {
        a.id == b.id && a.values == b.values && a.vv.map(\.writer) == b.vv.map(\.writer) && a.vv.map(\.count) == b.vv.map(\.count)
    }

    /// Decodes the flat msgpack array the merge script stores (see `MergeScript`).
    public static func decode(id: Int64, _ bytes: [UInt8]) throws -> HotTicket {
        let n = MergeScript.fieldCount
        guard case .array(let t) = try MsgPack.decode(bytes), t.count >= 2 * n + 1,
              case .int(let writers) = t[2 * n], writers >= 0, t.count >= 2 * n + 1 + 3 * Int(writers)
        else { throw MsgPackError(message: "ticket \(id) is not a flat ticket array") }
        var vv = [(writer: String, count: Int64)]()
        for j in 0..<Int(writers) {
            guard case .string(let name) = t[2 * n + 1 + 3 * j], case .int(let c) = t[2 * n + 2 + 3 * j] else {
                throw MsgPackError(message: "ticket \(id): bad vector entry")
            }
            vv.append((String(decoding: name, as: UTF8.self), c))
        }
        var out = [TicketEvent.Value?](repeating: nil, count: n)
        for (i, def) in Tables.tickets.columns.enumerated() {
            guard case .int(let stamp) = t[n + i] else { throw MsgPackError(message: "ticket \(id): bad stamp") }
            if stamp == 0 { continue }
            switch t[i] {
            case .bool(false), .nil_: out[i] = .null
            case .int(let v): out[i] = def.type.isInteger ? .integer(v) : .string(String(v))
            case .double(let d): out[i] = .integer(Int64(d))
            case .string(let s):
                let text = String(decoding: s, as: UTF8.self)
                if def.type.isInteger {
                    guard let v = Int64(text) else { throw MsgPackError(message: "ticket \(id): \(def.name) is not an integer") }
                    out[i] = .integer(v)
                } else {
                    out[i] = .string(text)
                }
            default: throw MsgPackError(message: "ticket \(id): bad value for \(def.name)")
            }
        }
        out[Tables.tickets.idColumnIndex] = .integer(id)
        out[Tables.tickets.index(of: "version")!] = .integer(vv.reduce(0) { $0 + $1.count })
        return HotTicket(id: id, values: out, vv: vv)
    }
}
