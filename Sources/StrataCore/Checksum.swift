import CCRC32C

/// CRC32C (Castagnoli), the checksum of every segment block and footer.
public enum CRC32C {
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        return strata_crc32c_extend(0, base, bytes.count)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    public static func extend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress else { return crc }
        return strata_crc32c_extend(crc, base, bytes.count)
    }

    /// The table-driven path alone, to check the hardware path against.
    public static func checksumPortable(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { strata_crc32c_extend_portable(0, $0.baseAddress, $0.count) }
    }
}
