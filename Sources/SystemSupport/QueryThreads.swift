#if canImport(Glibc)
import Glibc
#endif

/// How many threads a query uses by default: the machine's online cores, at most 8.
public enum QueryThreads {
    public static let `default`: Int = max(1, min(8, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
}
