/// Splits SQL text into tokens: a pure function over the text, with limits.
public enum Lexer {
    public static func tokenize(_ sql: String) throws(QueryError) -> [Token] {
        let b = Array(sql.utf8)
        guard b.count <= QueryLimits.maxQueryBytes else {
            throw QueryError(.limit, "query text of \(b.count) bytes is over the limit of \(QueryLimits.maxQueryBytes)", offset: nil)
        }
        var out = [Token]()
        var i = 0
        func text(_ r: Range<Int>) -> String { String(decoding: b[r], as: UTF8.self) }
        while i < b.count {
            let c = b[i]
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1; continue }
            // -- comment to end of line; /* block */ comment
            if c == 0x2D && i + 1 < b.count && b[i + 1] == 0x2D {
                while i < b.count && b[i] != 0x0A { i += 1 }
                continue
            }
            if c == 0x2F && i + 1 < b.count && b[i + 1] == 0x2A {
                let start = i
                i += 2
                while i + 1 < b.count && !(b[i] == 0x2A && b[i + 1] == 0x2F) { i += 1 }
                guard i + 1 < b.count else { throw QueryError(.syntax, "unterminated /* comment", offset: start) }
                i += 2
                continue
            }
            let start = i
            if isWordStart(c) {
                while i < b.count && isWordPart(b[i]) { i += 1 }
                out.append(Token(kind: .word, text: text(start..<i), offset: start))
            } else if isDigit(c) || (c == 0x2E && i + 1 < b.count && isDigit(b[i + 1])) {
                var decimal = false
                while i < b.count && isDigit(b[i]) { i += 1 }
                if i < b.count && b[i] == 0x2E { decimal = true; i += 1; while i < b.count && isDigit(b[i]) { i += 1 } }
                if i < b.count && (b[i] == 0x65 || b[i] == 0x45) {
                    var j = i + 1
                    if j < b.count && (b[j] == 0x2B || b[j] == 0x2D) { j += 1 }
                    if j < b.count && isDigit(b[j]) {
                        decimal = true
                        i = j
                        while i < b.count && isDigit(b[i]) { i += 1 }
                    }
                }
                if i < b.count && isWordStart(b[i]) { throw QueryError(.syntax, "malformed number", offset: start) }
                out.append(Token(kind: decimal ? .decimal : .integer, text: text(start..<i), offset: start))
            } else if c == 0x27 || c == 0x22 {
                var bytes = [UInt8]()
                i += 1
                var closed = false
                while i < b.count {
                    if b[i] == c {
                        if i + 1 < b.count && b[i + 1] == c { bytes.append(c); i += 2; continue }
                        i += 1
                        closed = true
                        break
                    }
                    bytes.append(b[i])
                    i += 1
                }
                guard closed else { throw QueryError(.syntax, c == 0x27 ? "unterminated string literal" : "unterminated quoted identifier", offset: start) }
                out.append(Token(kind: c == 0x27 ? .string : .quotedIdentifier, text: String(decoding: bytes, as: UTF8.self), offset: start))
            } else {
                let two = i + 1 < b.count ? text(i..<i + 2) : ""
                if ["<>", "!=", "<=", ">=", "||", "::"].contains(two) {
                    out.append(Token(kind: .symbol, text: two, offset: start))
                    i += 2
                } else if "(),*+-/%=<>.;".utf8.contains(c) {
                    out.append(Token(kind: .symbol, text: text(i..<i + 1), offset: start))
                    i += 1
                } else {
                    throw QueryError(.syntax, "unexpected character '\(text(i..<i + 1))'", offset: start)
                }
            }
            guard out.count <= QueryLimits.maxTokens else {
                throw QueryError(.limit, "query of more than \(QueryLimits.maxTokens) tokens", offset: start)
            }
        }
        out.append(Token(kind: .end, text: "", offset: b.count))
        return out
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isWordStart(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x5F || c >= 0x80 }
    static func isWordPart(_ c: UInt8) -> Bool { isWordStart(c) || isDigit(c) || c == 0x24 }
}
