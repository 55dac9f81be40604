#if canImport(Glibc)
import Glibc
#endif
import ColdStore

/// Reads a file record by record (a CSV record or an NDJSON line) in large chunks,
/// keeping line numbers. A record may not be longer than `maxRecordBytes`.
public struct InputFile {
    public static let maxRecordBytes = 1 << 20
    public static let chunkBytes = 4 << 20

    public enum Format: String, Sendable { case csv, ndjson }

    public let path: String
    private let fd: Int32
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var eof = false
    /// Line number (1-based) where the next record starts.
    public private(set) var nextLine = 1

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw FileError(path: path, operation: "open", errno: errno) }
        buffer = [UInt8](repeating: 0, count: InputFile.chunkBytes + InputFile.maxRecordBytes)
    }

    public func close() { Glibc.close(fd) }

    /// Guesses the format: by extension, else by the first non-blank byte.
    public static func detectFormat(path: String, firstBytes: [UInt8]) -> Format {
        let lower = path.lowercased()
        if lower.hasSuffix(".csv") { return .csv }
        if lower.hasSuffix(".ndjson") || lower.hasSuffix(".jsonl") || lower.hasSuffix(".json") { return .ndjson }
        let first = firstBytes.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        return first == UInt8(ascii: "{") ? .ndjson : .csv
    }

    private mutating func fill() throws {
        if start > 0 {
            buffer.withUnsafeMutableBytes { b in
                _ = memmove(b.baseAddress!, b.baseAddress! + start, end - start)
            }
            end -= start
            start = 0
        }
        while !eof && end < buffer.count {
            let n = buffer.withUnsafeMutableBytes { b in Glibc.read(fd, b.baseAddress! + end, b.count - end) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError(path: path, operation: "read", errno: errno)
            }
            if n == 0 { eof = true } else { end += n }
            if end - start >= InputFile.chunkBytes { break }
        }
    }

    /// Calls `body` with the next non-blank record (without its line terminator) and the
    /// line it starts on; returns false at the end of the file.
    public mutating func nextRecord<R>(csv: Bool, _ body: (UnsafeRawBufferPointer, Int) throws -> R) throws -> R? {
        while true {
            var found: (Int, Bool) = (0, false)
            for attempt in 0..<2 {
                found = buffer.withUnsafeBytes { b in
                    let view = UnsafeRawBufferPointer(rebasing: b[start..<end])
                    if csv { return CSVParser.recordEnd(view, from: 0) }
                    if let i = view.firstIndex(of: 0x0A) { return (i, true) }
                    return (view.count, false)
                }
                if found.1 || eof || attempt == 1 { break }
                try fill()
            }
            let (length, complete) = found
            if !complete && !eof {
                throw RecordError(field: nil, message: "record longer than \(InputFile.maxRecordBytes) bytes").at(path, nextLine)
            }
            if length == 0 && !complete { return nil }  // end of file
            guard length <= InputFile.maxRecordBytes else {
                throw RecordError(field: nil, message: "record longer than \(InputFile.maxRecordBytes) bytes").at(path, nextLine)
            }
            let line = nextLine
            let result: R? = try buffer.withUnsafeBytes { b in
                let rec = UnsafeRawBufferPointer(rebasing: b[start..<start + length])
                nextLine += 1 + rec.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                let blank = rec.allSatisfy { $0 == 0x0D || $0 == 0x20 || $0 == 0x09 }
                return blank ? nil : try body(rec, line)
            }
            start += length + (complete ? 1 : 0)
            if let result { return result }
        }
    }
}

/// A bad record, with the file and line it is on.
public struct ImportError: Error, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: String?
    public let message: String

    public var description: String {
        "\(file):\(line): " + (column.map { "column \($0): " } ?? "") + message
    }
}

extension RecordError {
    func at(_ file: String, _ line: Int, column: String? = nil) -> ImportError {
        ImportError(file: file, line: line, column: column ?? field.map { "#\($0)" }, message: message)
    }
}
