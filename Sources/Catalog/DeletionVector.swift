/// The rows of a segment that are no longer current (their ticket changed in the hot tier, or
/// moved into a merged segment): bit `row % 8` of byte `row / 8`, as the catalog stores it
/// (docs/tiering.md). Every reader asks it; none tests the bits itself.
public struct DeletionVector: Sendable, Equatable {
    public private(set) var bytes: [UInt8]

    public init(bytes: [UInt8] = []) { self.bytes = bytes }

    /// No row is deleted.
    public var isEmpty: Bool { !bytes.contains { $0 != 0 } }
    public var count: Int { bytes.reduce(0) { $0 + $1.nonzeroBitCount } }

    @inline(__always)
    public func contains(_ row: Int) -> Bool {
        row >= 0 && row / 8 < bytes.count && bytes[row / 8] & (1 << UInt8(row % 8)) != 0
    }

    public mutating func insert(_ row: Int) {
        precondition(row >= 0, "a row number is not negative")
        while bytes.count <= row / 8 { bytes.append(0) }
        bytes[row / 8] |= 1 << UInt8(row % 8)
    }
}
