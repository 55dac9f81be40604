#if canImport(Glibc)
import Glibc
#endif
import SegmentFormat

/// A failed system call, with the path and what was being done.
public struct FileError: Error, CustomStringConvertible {
    public let path: String
    public let operation: String
    public let errno: Int32

    public init(path: String, operation: String, errno: Int32) {
        self.path = path
        self.operation = operation
        self.errno = errno
    }

    public var description: String { "\(path): \(operation) failed: \(String(cString: strerror(errno)))" }
}

/// Buffered, EINTR-safe writes to a file descriptor; the descriptor is closed by `close`.
public final class FileSink: ByteSink {
    public let path: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    public private(set) var bytesWritten = 0

    /// Creates a new file; fails if it exists.
    public init(creating path: String) throws {
        self.path = path
        try IOFaults.check(path, "create")
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw FileError(path: path, operation: "create", errno: errno) }
        buffer.reserveCapacity(bufferLimit)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    public func write(_ bytes: [UInt8]) throws {
        if buffer.count + bytes.count > bufferLimit { try flush() }
        if bytes.count >= bufferLimit { try writeAll(bytes) } else { buffer.append(contentsOf: bytes) }
    }

    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try writeAll(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        try IOFaults.check(path, "write")
        try bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError(path: path, operation: "write", errno: errno)
                }
                done += n
            }
        }
        bytesWritten += bytes.count
    }

    /// Flushes, fsyncs and closes.
    public func syncAndClose() throws {
        try flush()
        try IOFaults.check(path, "fsync")
        if fsync(fd) != 0 { throw FileError(path: path, operation: "fsync", errno: errno) }
        let rc = Glibc.close(fd)
        fd = -1
        if rc != 0 { throw FileError(path: path, operation: "close", errno: errno) }
    }

    public func closeQuietly() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

/// Positioned reads (pread) of a whole file; the reader only fetches the blocks it needs.
public final class FileSource: ByteSource {
    public let path: String
    public let size: Int
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        try IOFaults.check(path, "open")
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw FileError(path: path, operation: "open", errno: errno) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            let e = errno
            Glibc.close(fd)
            throw FileError(path: path, operation: "stat", errno: e)
        }
        size = Int(st.st_size)
    }

    deinit { Glibc.close(fd) }

    public func read(offset: Int, count: Int) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset + count <= size else {
            throw FileError(path: path, operation: "read past the end (\(offset)+\(count) of \(size))", errno: EINVAL)
        }
        try IOFaults.check(path, "read")
        var out = [UInt8](repeating: 0, count: count)
        try out.withUnsafeMutableBytes { raw in
            var done = 0
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError(path: path, operation: "read", errno: errno)
                }
                if n == 0 { throw FileError(path: path, operation: "read (file shrank)", errno: EIO) }
                done += n
            }
        }
        return out
    }
}

enum FileSystem {
    static func fsyncDirectory(_ path: String) throws {
        try IOFaults.check(path + "/", "fsync directory")
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FileError(path: path, operation: "open directory", errno: errno) }
        defer { Glibc.close(fd) }
        if fsync(fd) != 0 { throw FileError(path: path, operation: "fsync directory", errno: errno) }
    }

    static func rename(_ from: String, _ to: String) throws {
        try IOFaults.check(from, "rename")
        if Glibc.rename(from, to) != 0 { throw FileError(path: from, operation: "rename to \(to)", errno: errno) }
    }

    static func remove(_ path: String) {
        unlink(path)
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Creates a directory and its parents (mode 0755).
    static func makeDirectories(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw FileError(path: current, operation: "mkdir", errno: errno)
            }
        }
    }

    static func list(_ directory: String) throws -> [String] {
        guard let dir = opendir(directory) else { throw FileError(path: directory, operation: "list", errno: errno) }
        defer { closedir(dir) }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
