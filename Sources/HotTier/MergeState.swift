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

    /// The stored ticket array with its values blanked (every item checked first).
    public static func blankValues(_ blob: [UInt8]) throws -> [UInt8] {
        guard blob.count <= maxBytes else { throw MsgPackError(message: "merge state of \(blob.count) bytes exceeds \(maxBytes)") }
        return try FlatTicket.parse(blob).mergeState(blob)
    }
}
