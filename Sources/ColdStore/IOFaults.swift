import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Injected I/O failures for crash tests, as SQLite's test harness fails its VFS after N
/// operations: once armed for a directory, the N+1-th file operation on a path under it
/// (create, write, fsync, close, rename, directory fsync, open for reading, read) fails with
/// EIO, and so does every one after it until disarmed. Unarmed (always, outside tests) it
/// costs one atomic load per operation.
public enum IOFaults {
    struct Plan {
        var directory: String
        var remaining: Int
        var failed = 0
    }

    static let armed = Atomic<Bool>(false)
    static let plan = Mutex<Plan?>(nil)

    /// Fails every operation under `directory` after the first `operations` succeed.
    public static func failAfter(_ operations: Int, under directory: String) {
        plan.withLock { $0 = Plan(directory: directory.hasSuffix("/") ? directory : directory + "/", remaining: operations) }
        armed.store(true, ordering: .sequentiallyConsistent)
    }

    /// Stops failing; returns how many operations were failed.
    @discardableResult
    public static func disarm() -> Int {
        armed.store(false, ordering: .sequentiallyConsistent)
        return plan.withLock { p in
            defer { p = nil }
            return p?.failed ?? 0
        }
    }

    /// Throws EIO for `operation` on `path` when the plan says this one fails.
    @inline(__always)
    static func check(_ path: String, _ operation: String) throws {
        guard armed.load(ordering: .relaxed) else { return }
        let fail = plan.withLock { p -> Bool in
            guard var q = p, path.hasPrefix(q.directory) else { return false }
            if q.remaining > 0 { q.remaining -= 1; p = q; return false }
            q.failed += 1
            p = q
            return true
        }
        if fail { throw FileError(path: path, operation: "\(operation) (injected fault)", errno: EIO) }
    }
}
