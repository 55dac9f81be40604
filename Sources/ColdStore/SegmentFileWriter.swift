#if canImport(Glibc)
import Glibc
#endif
import StrataCore
import SegmentFormat

/// A segment that is fully written and fsynced under a temporary name, not yet visible.
public struct StagedSegment: Sendable {
    public let temporaryPath: String
    public let finalPath: String
    public let directory: String
    public let rows: Int
    public let bytes: Int
    public let footer: SegmentFooter
}

/// Writes one segment file atomically: rows stream into `<name>.tmp` (one row group in
/// memory at a time); `stage` fsyncs it; `publish` renames it to its final name and
/// fsyncs the directory. A crash before `publish` leaves only a `.tmp` file, which
/// `ColdDirectory.sweepTemporaryFiles` removes.
public struct SegmentFileWriter {
    public let finalPath: String
    public let temporaryPath: String
    public let directory: String
    private var writer: SegmentWriter<FileSink>

    public init(directory: String, fileName: String, schema: TableSchema,
                rowGroupSize: Int = SegmentWriter<FileSink>.defaultRowGroupSize, createdAtMs: Int64) throws {
        precondition(fileName.hasSuffix(ColdDirectory.segmentSuffix) && !fileName.contains("/"))
        self.directory = directory
        finalPath = directory + "/" + fileName
        temporaryPath = finalPath + ColdDirectory.temporarySuffix
        let sink = try FileSink(creating: temporaryPath)
        do {
            writer = try SegmentWriter(schema: schema, sink: sink, rowGroupSize: rowGroupSize,
                                       createdBy: "strata \(StrataVersion.current)", createdAtMs: createdAtMs)
        } catch {
            sink.closeQuietly()
            FileSystem.remove(temporaryPath)
            throw error
        }
    }

    public var rowCount: Int { writer.rowCount }

    public mutating func append(_ columns: [ColumnVector]) throws {
        try writer.append(columns)
    }

    /// Writes footer and trailer and fsyncs the temporary file.
    public mutating func stage() throws -> StagedSegment {
        let footer = try writer.finish()
        try writer.sink.syncAndClose()
        return StagedSegment(temporaryPath: temporaryPath, finalPath: finalPath, directory: directory,
                             rows: footer.rowCount, bytes: writer.sink.bytesWritten, footer: footer)
    }

    /// Gives up: closes and removes the temporary file.
    public func abort() {
        writer.sink.closeQuietly()
        FileSystem.remove(temporaryPath)
    }
}

extension StagedSegment {
    /// Renames the file into place and fsyncs the directory: after this returns, the
    /// segment survives a crash.
    public func publish() throws {
        guard !FileSystem.exists(finalPath) else {
            throw FileError(path: finalPath, operation: "publish (a file of that name exists)", errno: EEXIST)
        }
        try FileSystem.rename(temporaryPath, finalPath)
        try FileSystem.fsyncDirectory(directory)
    }

    public func discard() {
        FileSystem.remove(temporaryPath)
    }
}
