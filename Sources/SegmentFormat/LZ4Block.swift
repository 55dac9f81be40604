import CLZ4

/// LZ4 block format (liblz4's `LZ4_compress_default` / `LZ4_decompress_safe`): no frame,
/// no header, no checksum of its own. Sizes live in the segment footer.
public enum LZ4Block {
    /// Compresses `input`, or returns nil when the result would not be smaller than
    /// `maxOutput` bytes (then the block is stored uncompressed).
    public static func compress(_ input: [UInt8], maxOutput: Int) -> [UInt8]? {
        guard !input.isEmpty, input.count <= Int(LZ4_MAX_INPUT_SIZE), maxOutput > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: maxOutput)
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                LZ4_compress_default(src.baseAddress!.assumingMemoryBound(to: CChar.self),
                                     dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                                     Int32(input.count), Int32(maxOutput))
            }
        }
        guard n > 0 else { return nil }
        out.removeLast(out.count - Int(n))
        return out
    }

    /// Decompresses exactly `rawLength` bytes, or throws if the block does not decode to
    /// exactly that many.
    public static func decompress(_ input: UnsafeRawBufferPointer, rawLength: Int) throws -> [UInt8] {
        guard rawLength > 0 else { throw FormatError("LZ4 block with raw length 0") }
        var out = [UInt8](repeating: 0, count: rawLength)
        let n = out.withUnsafeMutableBytes { dst in
            LZ4_decompress_safe(input.baseAddress?.assumingMemoryBound(to: CChar.self),
                                dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                                Int32(input.count), Int32(rawLength))
        }
        guard n == Int32(rawLength) else {
            throw FormatError(n < 0 ? "LZ4 block is malformed" : "LZ4 block decodes to \(n) bytes, not \(rawLength)")
        }
        return out
    }
}
