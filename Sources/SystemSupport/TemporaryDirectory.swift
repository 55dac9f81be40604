#if canImport(Glibc)
import Glibc
#endif

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it by `remove`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "strata") throws {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else {
            throw ChildProcess.SpawnError(executable: "mkdtemp", errno: errno)
        }
        path = String(cString: p)
    }

    public func remove() {
        _ = try? ChildProcess.run("/bin/rm", ["-rf", path])
    }
}

/// Reads a whole (small) file; nil if it cannot be read.
public func readWholeFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n > 0 { out.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
    }
    return out
}

/// Writes a whole file (replacing it).
public func writeWholeFile(_ path: String, _ bytes: [UInt8]) throws {
    guard let f = fopen(path, "wb") else { throw ChildProcess.SpawnError(executable: "fopen \(path)", errno: errno) }
    defer { fclose(f) }
    guard fwrite(bytes, 1, bytes.count, f) == bytes.count else { throw ChildProcess.SpawnError(executable: "fwrite \(path)", errno: errno) }
}

/// Paths the tests and benchmarks need: the repository, and the Python with DuckDB.
public enum ProjectPaths {
    /// The repository root, from a source file path inside it (`#filePath` of a test).
    public static func root(fromSourceFile file: String) -> String {
        var parts = file.split(separator: "/", omittingEmptySubsequences: false)
        while let last = parts.last, last != "Tests" && last != "Sources" && last != "Benchmarks" { parts.removeLast() }
        parts.removeLast()
        return parts.joined(separator: "/")
    }

    public static func python() -> String {
        if let s = getenv("STRATA_PYTHON") { return String(cString: s) }
        return "python3"
    }
}
