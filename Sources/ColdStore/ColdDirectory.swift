#if canImport(Glibc)
import Glibc
#endif
import StrataCore
import SegmentFormat

/// The cold tier's files under a data directory: `DATA/cold/<table>/<name>.seg`, and the
/// catalog beside them. The catalog says which segments are live; a file it does not list
/// is a leftover of a crash (swept) or a retired segment awaiting removal.
public struct ColdDirectory: Sendable {
    public static let segmentSuffix = ".seg"
    public static let temporarySuffix = ".tmp"

    public let dataDirectory: String

    public init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }

    public var root: String { dataDirectory + "/cold" }

    /// The catalog's name for a file under the data directory.
    public func relativePath(_ path: String) -> String {
        path.hasPrefix(dataDirectory + "/") ? String(path.dropFirst(dataDirectory.count + 1)) : path
    }

    public func absolutePath(_ relative: String) -> String { dataDirectory + "/" + relative }

    public var catalogPath: String { dataDirectory + "/catalog.sqlite" }

    public func tableDirectory(_ table: String) -> String { root + "/" + table }

    /// Creates the table's directory if needed and returns it.
    public func prepare(table: String) throws -> String {
        let dir = tableDirectory(table)
        try FileSystem.makeDirectories(dir)
        return dir
    }

    /// Published segment files of a table, sorted by name (oldest first).
    public func segments(table: String) throws -> [String] {
        let dir = tableDirectory(table)
        guard FileSystem.exists(dir) else { return [] }
        return try FileSystem.list(dir).filter { $0.hasSuffix(Self.segmentSuffix) }.map { dir + "/" + $0 }
    }

    /// Every published segment of every table.
    public func allSegments() throws -> [String] {
        guard FileSystem.exists(root) else { return [] }
        var out = [String]()
        for table in try FileSystem.list(root) { out += try segments(table: table) }
        return out
    }

    /// Removes `.tmp` files that a crashed writer left behind. Returns their paths.
    @discardableResult
    public func sweepTemporaryFiles() throws -> [String] {
        guard FileSystem.exists(root) else { return [] }
        var removed = [String]()
        for table in try FileSystem.list(root) {
            let dir = tableDirectory(table)
            for name in try FileSystem.list(dir) where name.hasSuffix(Self.temporarySuffix) {
                FileSystem.remove(dir + "/" + name)
                removed.append(dir + "/" + name)
            }
        }
        return removed
    }

    /// A new, unique segment file name: `<table>-<UTC time>-<random>.seg`, which sorts
    /// by creation time.
    public static func newSegmentName(table: String, nowMs: Int64) -> String {
        var g = SystemRandomNumberGenerator()
        let stamp = Timestamp.format(nowMs).filter { $0.isNumber }
        let r = String(g.next() & 0xFFFF_FFFF, radix: 16)
        return "\(table)-\(stamp.prefix(8))T\(stamp.dropFirst(8).prefix(9))-\(String(repeating: "0", count: 8 - r.count))\(r)\(segmentSuffix)"
    }

    public static func nowMs() -> Int64 { wallClockMilliseconds() }
}

/// Opens a segment file for reading.
public func openSegment(_ path: String) throws -> SegmentReader<FileSource> {
    let source: FileSource
    do { source = try FileSource(path: path) } catch let e as FileError {
        throw SegmentError(file: path, kind: .io, message: "\(e.operation) failed: \(String(cString: strerror(e.errno)))")
    }
    return try SegmentReader(source: source, name: path)
}
