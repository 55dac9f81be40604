/// Why a query was refused or failed: the kind, a message that names what is wrong, and
/// where in the text (byte offset) when it is about the text.
public struct QueryError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable { case syntax, name, type, unsupported, limit, execution, unavailable }
    public let kind: Kind
    public let message: String
    public let offset: Int?

    public init(_ kind: Kind, _ message: String, offset: Int?) {
        self.kind = kind
        self.message = message
        self.offset = offset
    }

    public var description: String { message }

    /// The message with the line and a caret under the column of `offset`.
    public func rendered(sql: String) -> String {
        guard let offset else { return "\(kind.rawValue) error: \(message)" }
        let b = Array(sql.utf8)
        var lineStart = 0, line = 1
        for i in 0..<min(offset, b.count) where b[i] == 0x0A { line += 1; lineStart = i + 1 }
        var lineEnd = lineStart
        while lineEnd < b.count && b[lineEnd] != 0x0A { lineEnd += 1 }
        let text = String(decoding: b[lineStart..<lineEnd], as: UTF8.self)
        let column = String(decoding: b[lineStart..<min(offset, b.count)], as: UTF8.self).count
        return "\(kind.rawValue) error at line \(line), column \(column + 1): \(message)\n  \(text)\n  \(String(repeating: " ", count: column))^"
    }
}
