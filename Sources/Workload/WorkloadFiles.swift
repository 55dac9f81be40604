#if canImport(Glibc)
import Glibc
#endif

/// A file the generator writes to (`-` is standard output), closed and checked at the end.
public final class WorkloadOutput {
    let path: String
    private var file: UnsafeMutablePointer<FILE>?

    public init(path: String) throws {
        self.path = path
        if path == "-" {
            file = fdopen(1, "wb")
        } else {
            guard let f = fopen(path, "wb") else { throw WorkloadError("cannot write \(path): \(String(cString: strerror(errno)))") }
            file = f
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        guard let file else { throw WorkloadError("\(path) is closed") }
        guard bytes.isEmpty || fwrite(bytes, 1, bytes.count, file) == bytes.count else {
            throw WorkloadError("writing \(path) failed: \(String(cString: strerror(errno)))")
        }
    }

    public func close() throws {
        guard let f = file else { return }
        file = nil
        let flushed = fflush(f) == 0
        if path != "-" { guard fclose(f) == 0 && flushed else { throw WorkloadError("closing \(path) failed: \(String(cString: strerror(errno)))") } }
        guard flushed else { throw WorkloadError("writing \(path) failed: \(String(cString: strerror(errno)))") }
    }

    deinit { if let f = file, path != "-" { fclose(f) } }
}

extension Generator {
    /// `snapshot` into a file.
    public static func writeSnapshot(rows: Int, format: SnapshotFormat, options: WorkloadOptions = WorkloadOptions(), to path: String) throws {
        let out = try WorkloadOutput(path: path)
        try snapshot(rows: rows, format: format, options: options, write: out.write)
        try out.close()
    }

    /// `events` into files: the stream, and the final states if `expect` is given.
    @discardableResult
    public static func writeEvents(tickets: Int, options: WorkloadOptions = WorkloadOptions(), delivery: DeliveryOptions = DeliveryOptions(),
                                   to path: String, expect: String? = nil) throws -> EventCounts {
        let out = try WorkloadOutput(path: path)
        let expected = try expect.map { try WorkloadOutput(path: $0) }
        let counts = try events(tickets: tickets, options: options, delivery: delivery, writeEvents: out.write, writeExpect: expected?.write)
        try out.close()
        try expected?.close()
        return counts
    }
}
