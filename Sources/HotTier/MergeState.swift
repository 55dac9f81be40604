/// A ticket's merge state without its values: what the cold tier keeps next to the
/// ticket's row so that a ticket coming back is restored exactly (docs/tiering.md).
///
/// The hot tier stores a ticket as one flat msgpack array (see `MergeScript`): 17 values,
/// 17 stamps, the writers with their counters, the seen dots. The values are already in
/// the row's columns, so the cold copy blanks them (msgpack `false`) and keeps the rest
/// byte for byte; `MergeScript`'s restore op puts the row's values back.
public enum MergeState {
    /// Most bytes a stored merge state may have (a ticket has at most 63 writers).
    public static let maxBytes = 64 * 1024

    /// The stored ticket array with its values blanked.
    public static func blankValues(_ blob: [UInt8]) throws -> [UInt8] {
        let n = MergeScript.fieldCount
        guard blob.count <= maxBytes else { throw MsgPackError(message: "merge state of \(blob.count) bytes exceeds \(maxBytes)") }
        var pos = 0
        let count: Int
        switch blob.first {
        case let t? where t & 0xF0 == 0x90: count = Int(t & 0x0F); pos = 1
        case 0xDC? where blob.count >= 3: count = Int(blob[1]) << 8 | Int(blob[2]); pos = 3
        default: throw MsgPackError(message: "a merge state is a msgpack array of at least \(2 * n + 1) items")
        }
        guard count >= 2 * n + 1 else { throw MsgPackError(message: "a merge state has \(count) items, fewer than \(2 * n + 1)") }
        var out = Array(blob[0..<pos])
        for _ in 0..<n { _ = try MsgPack.value(blob, &pos, depth: 1) }
        out += [UInt8](repeating: 0xC2, count: n)
        out += blob[pos...]
        // The rest must parse: a damaged state is refused here rather than restored later.
        guard case .array(let items) = try MsgPack.decode(out), items.count == count else {
            throw MsgPackError(message: "merge state does not round-trip")
        }
        return out
    }
}
