#if canImport(Glibc)
import Glibc
#endif

/// The clocks, once for every module: seconds on the monotonic clock (for durations and
/// deadlines; it never goes back) and milliseconds on the wall clock (for timestamps).
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Milliseconds since 1970 (UTC) on the wall clock.
public func wallClockMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}
