/// A stored ticket that is not what the merge script writes (see `FlatTicket`, the one
/// decoder of the ticket record).
public struct MsgPackError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "msgpack: \(message)" }
}
