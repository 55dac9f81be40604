/// A token of SQL text, with its byte offset (for error carets).
public struct Token: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// An unquoted word (keyword or name); `text` is as written.
        case word
        /// A "quoted" identifier, quotes removed.
        case quotedIdentifier
        /// A 'string' literal, quotes removed and '' unescaped.
        case string
        case integer
        case decimal
        /// Punctuation and operators: , ( ) * + - / % = <> != < <= > >= || . ; ::
        case symbol
        case end
    }

    public let kind: Kind
    public let text: String
    public let offset: Int

    /// The word in lower case (keywords and names compare case-insensitively).
    public var lower: String { text.lowercased() }

    public func isWord(_ w: String) -> Bool { kind == .word && text.lowercased() == w }
    public func isSymbol(_ s: String) -> Bool { kind == .symbol && text == s }
}
