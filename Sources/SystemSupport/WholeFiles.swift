#if canImport(Glibc)
import Glibc
#endif

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
