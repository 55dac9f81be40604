import CJemalloc

/// The process's malloc: jemalloc, linked into this executable (`CJemalloc`), replaces
/// glibc's for every allocation, Swift's included. Why: the daemon frees on one thread what
/// another allocated (an event parsed on an HTTP thread is freed after its write round), and
/// glibc's arenas then contend on a lock: on the transaction write path the daemon slept in
/// `_int_free` 50 times per 1,000 events (docs/benchmarks.md, session 21). jemalloc's
/// per-thread caches give freed memory back in batches.
enum MemoryAllocator {
    /// "jemalloc <version>", as jemalloc reports it; a calling `mallctl` also keeps the
    /// library linked (a linker that drops unused libraries would otherwise drop it).
    static var description: String {
        var version: UnsafePointer<CChar>? = nil
        var size = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &version, &size, nil, 0) == 0, let version else { return "jemalloc (version unknown)" }
        return "jemalloc " + String(cString: version)
    }
}
