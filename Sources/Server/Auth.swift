import StrataCore

/// What a bearer token may do.
public enum Scope: String, Sendable, CaseIterable {
    case write, query, admin
}

/// Bearer tokens and their scopes, from a JSON file:
/// `{"tokens": [{"name": "ticket-service", "token": "…", "scopes": ["write"]}]}`.
public struct TokenStore: Sendable {
    public struct Entry: Sendable {
        public let name: String
        let token: [UInt8]
        public let scopes: Set<Scope>
    }

    public static let maxTokens = 1000
    public static let minTokenBytes = 16

    public let entries: [Entry]

    public init(entries: [(name: String, token: String, scopes: Set<Scope>)]) {
        self.entries = entries.map { Entry(name: $0.name, token: Array($0.token.utf8), scopes: $0.scopes) }
    }

    /// Parses the token file; errors name the entry and field.
    public static func parse(_ bytes: [UInt8], source: String) throws -> TokenStore {
        func fail(_ m: String) -> ConfigError { ConfigError(source: source, message: m) }
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw fail("invalid JSON: \(error)") }
        guard case .array(let items)? = json["tokens"] else { throw fail("expected {\"tokens\": [...]}") }
        guard items.count <= maxTokens else { throw fail("more than \(maxTokens) tokens") }
        var out = [(name: String, token: String, scopes: Set<Scope>)]()
        for (i, item) in items.enumerated() {
            guard case .string(let name)? = item["name"], !name.isEmpty else { throw fail("tokens[\(i)].name: a non-empty string is required") }
            guard case .string(let token)? = item["token"] else { throw fail("tokens[\(i)] (\(name)).token: a string is required") }
            guard token.utf8.count >= minTokenBytes else { throw fail("tokens[\(i)] (\(name)).token: at least \(minTokenBytes) bytes are required") }
            // A header value cannot carry white space or control bytes inside a token (RFC 6750's
            // token68), so such a token could never match: refuse it here, by name.
            guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw fail("tokens[\(i)] (\(name)).token: only visible ASCII characters, no spaces (it is sent in an Authorization header)")
            }
            guard case .array(let scopeValues)? = item["scopes"], !scopeValues.isEmpty else {
                throw fail("tokens[\(i)] (\(name)).scopes: a non-empty array of write, query, admin is required")
            }
            var scopes = Set<Scope>()
            for s in scopeValues {
                guard case .string(let text) = s, let scope = Scope(rawValue: text) else {
                    throw fail("tokens[\(i)] (\(name)).scopes: \(s) is not one of write, query, admin")
                }
                scopes.insert(scope)
            }
            guard !out.contains(where: { $0.token == token }) else { throw fail("tokens[\(i)] (\(name)).token: the same token appears twice") }
            out.append((name, token, scopes))
        }
        return TokenStore(entries: out)
    }

    public enum Decision: Equatable, Sendable {
        case allowed(name: String)
        /// No or unknown token: 401.
        case unauthenticated
        /// A known token without the scope: 403.
        case forbidden(name: String)
    }

    /// Checks an `Authorization` header value. Every token is compared, in constant time
    /// for its length, so timing tells nothing about which token came close.
    public func authorize(header: String?, scope: Scope) -> Decision {
        // The scheme is case-insensitive (RFC 9110, 11.1); one or more spaces follow it.
        guard let header else { return .unauthenticated }
        let bytes = Array(header.utf8)
        guard bytes.count > 7, String(decoding: bytes[0..<6], as: UTF8.self).lowercased() == "bearer", bytes[6] == 0x20 else { return .unauthenticated }
        var start = 7
        while start < bytes.count && bytes[start] == 0x20 { start += 1 }
        let given = Array(bytes[start...])
        var match: Entry? = nil
        for e in entries where constantTimeEqual(e.token, given) { match = e }
        guard let match else { return .unauthenticated }
        return match.scopes.contains(scope) || match.scopes.contains(.admin) ? .allowed(name: match.name) : .forbidden(name: match.name)
    }
}

/// Compares two byte strings in time that depends only on their lengths.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var diff = UInt8(a.count == b.count ? 0 : 1)
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0
        let y = i < b.count ? b[i] : 0
        diff |= x ^ y
    }
    return diff == 0
}

/// A problem with a configuration file, naming the file.
public struct ConfigError: Error, CustomStringConvertible {
    public let source: String
    public let message: String
    public var description: String { "\(source): \(message)" }
}
