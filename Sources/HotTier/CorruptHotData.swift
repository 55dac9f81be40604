/// Hot-tier data that does not hold what the merge script writes.
public struct CorruptHotData: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
