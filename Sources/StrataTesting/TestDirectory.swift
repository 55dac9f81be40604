#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it by `remove`.
/// Its name carries the test process's pid (`strata-test-<pid>-<prefix>-…`): when a test
/// process dies without cleaning up, `scripts/reap-test-children` finds the servers it left
/// running in such a directory and stops them before the next run.
/// Test support that could not do what it was asked (a directory, a file, a stream).
public struct TestingFailure: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "strata") throws {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/strata-test-\(getpid())-\(prefix)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else {
            throw TestingFailure(description: "mkdtemp \(base): \(String(cString: strerror(errno)))")
        }
        path = String(cString: p)
    }

    public func remove() {
        _ = try? ChildProcess.run("/bin/rm", ["-rf", path])
    }
}
