/// How the values of a column chunk are laid out. The codes are stored in the footer:
/// never renumber them, only add. See docs/format.md for each layout with an example.
public enum Encoding: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    // Integer and timestamp columns.
    case plain = 0
    case frameOfReference = 1
    case delta = 2
    case deltaOfDelta = 3
    case runLength = 4
    case referenceDelta = 5
    // String columns.
    case plainString = 16
    case dictionary = 17

    public var isInteger: Bool { rawValue < 16 }

    public var description: String {
        switch self {
        case .plain: return "PLAIN"
        case .frameOfReference: return "FOR"
        case .delta: return "DELTA"
        case .deltaOfDelta: return "DELTA_OF_DELTA"
        case .runLength: return "RLE"
        case .referenceDelta: return "REF_DELTA"
        case .plainString: return "PLAIN_STRING"
        case .dictionary: return "DICTIONARY"
        }
    }
}

/// The compression applied to a block after encoding.
public enum Compression: UInt8, Sendable, CustomStringConvertible {
    case none = 0
    /// One LZ4 block (the LZ4 "block format", no frame header, no checksums of its own);
    /// the compressed length is the block's stored length and the decompressed length is
    /// its raw length, both in the footer.
    case lz4Block = 1

    public var description: String { self == .none ? "none" : "lz4-block" }
}
