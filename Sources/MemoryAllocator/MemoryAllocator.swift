import CJemalloc

/// The process's malloc: jemalloc (`CJemalloc`), linked into the executables that depend on
/// this module (`strata`, and the benchmarks that run its code in-process), replaces glibc's
/// for every allocation, Swift's included. Why: the daemon frees on one thread what another
/// allocated (an event parsed on an HTTP thread is freed after its write round), and glibc's
/// arenas then contend on a lock: on the transaction write path the daemon slept in
/// `_int_free` 50 times per 1,000 events (docs/benchmarks.md, session 21). jemalloc's
/// per-thread caches give such memory back in batches.
public enum MemoryAllocator {
    /// Freed pages go back to the kernel after a second, not jemalloc's default ten: a
    /// compaction run allocates and frees one migration's values after another, and held
    /// ten seconds they raised the run's peak RSS from 167 to 224 MB on a million tickets.
    /// A second still lets the next batch of a query scan or a write round reuse the last
    /// one's pages (they come back within milliseconds). Called once, at start.
    ///
    /// The pages are returned by jemalloc's background thread, not by whichever thread
    /// allocates when the time comes (a request's, say), so that returning them adds to no
    /// request's latency.
    public static func configure(dirtyDecayMs: Int = 1000) {
        var one = 1  // size_t: one such thread is plenty for the daemon's few arenas
        _ = mallctl("max_background_threads", nil, nil, &one, MemoryLayout<Int>.size)
        var on = true
        _ = mallctl("background_thread", nil, nil, &on, MemoryLayout<Bool>.size)
        set("arenas.dirty_decay_ms", dirtyDecayMs)  // arenas made from now on
        set("arenas.muzzy_decay_ms", 0)
        var arenas: UInt32 = 0
        var size = MemoryLayout<UInt32>.size
        guard mallctl("arenas.narenas", &arenas, &size, nil, 0) == 0 else { return }
        for i in 0..<arenas {  // and those made before
            set("arena.\(i).dirty_decay_ms", dirtyDecayMs)
            set("arena.\(i).muzzy_decay_ms", 0)
        }
    }

    private static func set(_ name: String, _ value: Int) {
        var v = value  // ssize_t
        _ = mallctl(name, nil, nil, &v, MemoryLayout<Int>.size)
    }

    /// A jemalloc setting that is a signed size (`ssize_t`), as it reads now.
    public static func setting(_ name: String) -> Int? {
        var v = 0
        var size = MemoryLayout<Int>.size
        return mallctl(name, &v, &size, nil, 0) == 0 ? v : nil
    }

    /// A jemalloc setting that is a flag (`bool`), as it reads now.
    public static func flag(_ name: String) -> Bool? {
        var v = false
        var size = MemoryLayout<Bool>.size
        return mallctl(name, &v, &size, nil, 0) == 0 ? v : nil
    }

    /// "jemalloc <version>", as jemalloc reports it; calling `mallctl` also keeps the library
    /// linked (a linker that drops unused libraries would otherwise drop it).
    public static var description: String {
        var version: UnsafePointer<CChar>? = nil
        var size = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &version, &size, nil, 0) == 0, let version else { return "jemalloc (version unknown)" }
        return "jemalloc " + String(cString: version)
    }
}
