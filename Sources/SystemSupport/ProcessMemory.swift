#if canImport(Glibc)
/// `int mallopt(int param, int value)` from <malloc.h>, which the Glibc module leaves out.
@_silgen_name("mallopt")
private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif

/// How the process's allocator gives memory back.
public enum ProcessMemory {
    /// glibc serves a block of 128 KiB or more with its own mmap and returns it to the
    /// kernel when freed, and trims the heap's free top past a small threshold. A scan
    /// allocates and frees a column of 64K values per batch, so every batch faulted in
    /// fresh zeroed pages: about 15% of a query's time went to page faults. Serving
    /// blocks up to 32 MiB from the heap and keeping up to `keep` bytes of free heap
    /// top lets the next batch reuse the last one's pages. Called once, at start.
    public static func keepFreedMemory(keep: Int = 256 << 20) {
        #if canImport(Glibc)
        // <malloc.h>: M_TRIM_THRESHOLD is -1, M_MMAP_THRESHOLD -3 (negative macros do
        // not reach Swift).
        _ = glibcMallopt(-3, 32 << 20)
        _ = glibcMallopt(-1, Int32(clamping: keep))
        #endif
    }
}
