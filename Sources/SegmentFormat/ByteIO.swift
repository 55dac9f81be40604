import StrataCore

/// A decoding problem inside one structure (a block, the footer). The segment reader
/// adds the file and block it came from (see `SegmentError`).
public struct FormatError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Appends little-endian integers and length-prefixed strings to a byte array.
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    public var count: Int { bytes.count }

    @inline(__always)
    public mutating func u8(_ v: UInt8) { bytes.append(v) }

    @inline(__always)
    public mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }

    @inline(__always)
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }

    @inline(__always)
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }

    @inline(__always)
    public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }

    public mutating func raw<C: Collection>(_ b: C) where C.Element == UInt8 { bytes.append(contentsOf: b) }

    /// A string of at most 65535 bytes: u16 length, then its UTF-8 bytes.
    public mutating func shortString(_ s: String) {
        let utf8 = Array(s.utf8)
        precondition(utf8.count <= Int(UInt16.max), "short string over 65535 bytes")
        u16(UInt16(utf8.count))
        raw(utf8)
    }

    public mutating func shortBytes(_ b: ArraySlice<UInt8>) {
        precondition(b.count <= Int(UInt16.max), "short string over 65535 bytes")
        u16(UInt16(b.count))
        raw(b)
    }
}

/// Reads what `ByteWriter` wrote. Every read is bounds-checked and throws a
/// `FormatError` naming what was being read; no read goes past the buffer.
public struct ByteReader {
    public let buffer: UnsafeRawBufferPointer
    public private(set) var offset: Int

    public init(_ buffer: UnsafeRawBufferPointer, offset: Int = 0) {
        self.buffer = buffer
        self.offset = offset
    }

    public var remaining: Int { buffer.count - offset }
    public var isAtEnd: Bool { offset == buffer.count }

    @inline(__always)
    mutating func need(_ n: Int, _ what: StaticString) throws {
        guard n >= 0, n <= buffer.count - offset else {
            throw FormatError("truncated: \(what) needs \(n) bytes at offset \(offset), \(buffer.count - offset) left")
        }
    }

    @inline(__always)
    public mutating func u8(_ what: StaticString) throws -> UInt8 {
        try need(1, what)
        defer { offset += 1 }
        return buffer[offset]
    }

    @inline(__always)
    public mutating func u16(_ what: StaticString) throws -> UInt16 {
        try need(2, what)
        defer { offset += 2 }
        return UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    public mutating func u32(_ what: StaticString) throws -> UInt32 {
        try need(4, what)
        defer { offset += 4 }
        return UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    public mutating func u64(_ what: StaticString) throws -> UInt64 {
        try need(8, what)
        defer { offset += 8 }
        return UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    public mutating func i64(_ what: StaticString) throws -> Int64 {
        Int64(bitPattern: try u64(what))
    }

    /// `n` raw bytes, as a view into the buffer.
    public mutating func bytes(_ n: Int, _ what: StaticString) throws -> UnsafeRawBufferPointer {
        try need(n, what)
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + n])
    }

    public mutating func shortBytes(_ what: StaticString) throws -> [UInt8] {
        let n = Int(try u16(what))
        return Array(try bytes(n, what))
    }

    /// A short string that must be valid UTF-8.
    public mutating func shortString(_ what: StaticString) throws -> String {
        let b = try shortBytes(what)
        guard let s = UTF8Text.string(b) else { throw FormatError("invalid UTF-8 in \(what)") }
        return s
    }

    /// A count that must not exceed `limit` (so that a corrupt count cannot allocate wildly).
    public mutating func count(_ what: StaticString, limit: Int) throws -> Int {
        let v = Int(try u32(what))
        guard v <= limit else { throw FormatError("\(what) \(v) exceeds its limit \(limit)") }
        return v
    }
}
