/// A problem with one segment file, naming the file and, where there is one, the block.
public struct SegmentError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case io
        case notASegment = "not a segment"
        case unsupportedVersion = "unsupported version"
        case truncated
        case corruptHeader = "corrupt header"
        case corruptFooter = "corrupt footer"
        case corruptBlock = "corrupt block"
        case invalidData = "invalid data"
    }

    /// The block a problem lies in.
    public struct Block: Equatable, Sendable {
        public let rowGroup: Int
        public let column: String
        public let offset: UInt64
        public let length: UInt32
    }

    public let file: String
    public let kind: Kind
    public let block: Block?
    public let message: String

    public init(file: String, kind: Kind, block: Block? = nil, message: String) {
        self.file = file
        self.kind = kind
        self.block = block
        self.message = message
    }

    public var description: String {
        var s = "\(file): "
        if let b = block {
            s += "row group \(b.rowGroup), column '\(b.column)' (block at byte \(b.offset), \(b.length) bytes): "
        }
        return s + "\(kind.rawValue): \(message)"
    }
}
