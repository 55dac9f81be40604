#if canImport(Glibc)
import Glibc
#endif
import SystemSupport

/// Paths the tests and benchmarks need: the repository, the debug `strata` binary the
/// suite runs, and the Python with DuckDB.
public enum ProjectPaths {
    /// The repository root, from this file's path (the build's, so a fresh clone anywhere works).
    public static let root: String = root(fromSourceFile: #filePath)

    /// The repository root, from a source file path inside it.
    public static func root(fromSourceFile file: String) -> String {
        var parts = file.split(separator: "/", omittingEmptySubsequences: false)
        while let last = parts.last, last != "Tests" && last != "Sources" && last != "Benchmarks" { parts.removeLast() }
        parts.removeLast()
        return parts.joined(separator: "/")
    }

    /// The `strata` binary of the debug build, which `swift build --build-tests` (run by
    /// `scripts/test`) made. A binary older than a source file is refused: a
    /// `swift test --filter` after an edit would otherwise test yesterday's daemon.
    public static var strata: String {
        get throws {
            let binary = root + "/.build/debug/strata"
            try staleCheck.withLock { checked in
                if checked { return }
                try BuildFreshness.check(binary: binary, sources: root + "/Sources", skipping: BuildFreshness.notInStrata)
                checked = true
            }
            return binary
        }
    }

    public static func python() -> String {
        if let s = getenv("STRATA_PYTHON") { return String(cString: s) }
        return "python3"
    }
}

import Synchronization

let staleCheck = Mutex(false)

/// Whether a built binary is at least as new as every source file it is built from.
enum BuildFreshness {
    struct Stale: Error, CustomStringConvertible {
        let description: String
    }

    /// Modules under Sources/ that the `strata` binary does not link: editing them does not relink it.
    static let notInStrata: Set<String> = ["StrataTesting", "StrataFuzz", "FuzzTargets"]

    static func check(binary: String, sources: String, skipping: Set<String> = []) throws {
        var st = stat()
        guard stat(binary, &st) == 0 else {
            throw Stale(description: "\(binary) does not exist: build first (`swift build --build-tests`, or run the suite with scripts/test)")
        }
        let built = st.st_mtim
        if let (newest, file) = newestSwiftFile(under: sources, skipping: skipping),
           (newest.tv_sec, newest.tv_nsec) > (built.tv_sec, built.tv_nsec) {
            throw Stale(description: "\(binary) is older than \(file): rebuild (`swift build --build-tests`) before testing it")
        }
    }

    /// The modification time and path of the newest `.swift` file under `dir`.
    static func newestSwiftFile(under dir: String, skipping: Set<String> = []) -> (timespec, String)? {
        guard let d = opendir(dir) else { return nil }
        defer { closedir(d) }
        var best: (timespec, String)? = nil
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." || skipping.contains(name) { continue }
            let path = dir + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            var candidate: (timespec, String)? = nil
            if (st.st_mode & S_IFMT) == S_IFDIR {
                candidate = newestSwiftFile(under: path)
            } else if name.hasSuffix(".swift") {
                candidate = (st.st_mtim, path)
            }
            if let c = candidate, best.map({ (c.0.tv_sec, c.0.tv_nsec) > ($0.0.tv_sec, $0.0.tv_nsec) }) ?? true { best = c }
        }
        return best
    }
}
