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

    /// Decodes the flat msgpack array the merge script stores (see `MergeScript`), through
    /// `FlatTicket`, the one decoder of it.
    public static func decode(id: Int64, _ bytes: [UInt8]) throws -> HotTicket {
        let flat: FlatTicket
        do { flat = try FlatTicket.parse(bytes) } catch let e as MsgPackError {
            throw MsgPackError(message: "ticket \(id): \(e.message)")
        }
        let vv = flat.writers.map { (writer: String(decoding: bytes[$0.name], as: UTF8.self), count: $0.count) }
        var out = [TicketEvent.Value?](repeating: nil, count: MergeScript.fieldCount)
        for (i, def) in Tables.tickets.columns.enumerated() where flat.setColumns & (1 << UInt32(i)) != 0 {
            switch flat.values[i] {
            case .null: out[i] = .null
            case .integer(let v): out[i] = def.type.isInteger ? .integer(v) : .string(String(v))
            case .double(let d):
                guard let v = Int64(exactly: d.rounded(.towardZero)) else { throw MsgPackError(message: "ticket \(id): \(def.name) is \(d), not an integer") }
                out[i] = .integer(v)
            case .string(let r):
                let text = String(decoding: bytes[r], as: UTF8.self)
                if def.type.isInteger {
                    guard let v = Int64(text) else { throw MsgPackError(message: "ticket \(id): \(def.name) is not an integer") }
                    out[i] = .integer(v)
                } else {
                    out[i] = .string(text)
                }
            }
        }
        out[Tables.tickets.idColumnIndex] = .integer(id)
        out[Tables.tickets.index(of: "version")!] = .integer(flat.version)
        return HotTicket(id: id, values: out, vv: vv)
    }
}
