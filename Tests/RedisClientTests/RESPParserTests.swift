import Testing
@testable import RedisClient

/// `RESPParser` against hiredis's reader (`RESPReader`), the parser the connections used
/// before: the same bytes must give the same replies, and every reply this parser accepts
/// hiredis accepts as the same value.
@Suite struct RESPParserTests {
    /// All the replies in `bytes`, by `RESPParser`; nil if the last one is cut short.
    static func parseAll(_ bytes: [UInt8]) throws -> [RESPValue]? {
        try bytes.withUnsafeBytes { raw in
            var at = 0, out = [RESPValue]()
            while at < raw.count {
                guard let end = try RESPParser.end(of: raw, from: at) else { return nil }
                let (v, e) = try RESPParser.parse(raw, from: at)
                #expect(e == end, "the scan and the parse end at the same byte")
                out.append(v)
                at = e
            }
            return out
        }
    }

    /// All the replies in `bytes`, by hiredis's reader; nil if the last one is cut short.
    static func hiredisAll(_ bytes: [UInt8]) throws -> [RESPValue]? {
        let r = RESPReader()
        r.feed(bytes)
        var out = [RESPValue]()
        while let v = try r.next() { out.append(v) }
        return out
    }

    static func encode(_ v: RESPValue, into out: inout [UInt8]) {
        switch v {
        case .simple(let s): out += Array("+\(s)\r\n".utf8)
        case .error(let s): out += Array("-\(s)\r\n".utf8)
        case .integer(let n): out += Array(":\(n)\r\n".utf8)
        case .bulk(let b): out += Array("$\(b.count)\r\n".utf8) + b + [0x0D, 0x0A]
        case .null: out += Array("$-1\r\n".utf8)
        case .array(let items):
            out += Array("*\(items.count)\r\n".utf8)
            for i in items { encode(i, into: &out) }
        }
    }

    static func random(_ g: inout SplitMix, depth: Int) -> RESPValue {
        switch g.next() % (depth < 4 ? 6 : 5) {
        case 0: return .simple(String(repeating: "O", count: Int(g.next() % 8)) + "K")
        case 1: return .error("ERR " + String(g.next() % 1000))
        case 2: return .integer(Int64(bitPattern: g.next()) >> Int64(g.next() % 64))
        case 3: return .bulk((0..<Int(g.next() % 300)).map { _ in UInt8(truncatingIfNeeded: g.next()) })  // CRLF inside too
        case 4: return .null
        default: return .array((0..<Int(g.next() % 6)).map { _ in random(&g, depth: depth + 1) })
        }
    }

    @Test func randomRepliesParseAsHiredisParsesThem() throws {
        var g = SplitMix(seed: 15)
        for _ in 0..<500 {
            let values = (0..<Int(1 + g.next() % 5)).map { _ in Self.random(&g, depth: 0) }
            var bytes = [UInt8]()
            for v in values { Self.encode(v, into: &bytes) }
            #expect(try Self.parseAll(bytes) == values)
            #expect(try Self.hiredisAll(bytes) == values)
            // Cut anywhere: the part before the cut is either whole replies or "need more".
            let cut = Int(g.next() % UInt64(bytes.count))
            let mine = try Self.parseAll(Array(bytes[..<cut]))
            if let mine { #expect(Array(values.prefix(mine.count)) == mine) }
        }
    }

    /// Random edits of valid replies: whatever this parser answers, hiredis answers the same;
    /// it may refuse what hiredis takes (a negative length other than -1, a bad digit), never the reverse
    /// with a different value.
    @Test func editedRepliesNeverParseToSomethingElse() throws {
        var g = SplitMix(seed: 16)
        var refusedOnlyHere = 0
        for _ in 0..<20_000 {
            var bytes = [UInt8]()
            Self.encode(Self.random(&g, depth: 0), into: &bytes)
            for _ in 0..<Int(1 + g.next() % 3) where !bytes.isEmpty {
                let i = Int(g.next() % UInt64(bytes.count))
                switch g.next() % 3 {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: g.next())
                case 1: bytes.remove(at: i)
                default: bytes.insert(Array("*$+-:\r\n-10".utf8)[Int(g.next() % 10)], at: i)
                }
            }
            let mine: [RESPValue]?
            do { mine = try Self.parseAll(bytes) } catch { refusedOnlyHere += 1; continue }
            guard let mine else { continue }
            let theirs = try? Self.hiredisAll(bytes)
            #expect(theirs == mine, "bytes \(bytes)")
        }
        #expect(refusedOnlyHere > 0, "the edits reach the error paths")
    }

    @Test func limitsAndErrorsNameTheOffset() throws {
        func refuses(_ text: String, _ words: String) {
            do {
                _ = try Self.parseAll(Array(text.utf8))
                Issue.record("accepted \(text.debugDescription)")
            } catch {
                #expect("\(error)".contains(words), "\(error)")
            }
        }
        refuses("?x\r\n", "unknown reply type byte 63 at offset 0")
        refuses("+OK\r\n:12a\r\n", "not an integer at offset 6")
        refuses(":99999999999999999999\r\n", "not an integer")
        refuses(":9223372036854775808\r\n", "out of range")
        refuses("$-2\r\n", "bulk length -2")
        refuses("$\(RESPParser.maxBulkBytes + 1)\r\n", "bulk length")
        refuses("$3\r\nabcd\r\n", "not followed by CRLF")
        refuses("+OK\rX", "CR not followed by LF at offset 3")
        refuses(String(repeating: "*1\r\n", count: RESPParser.maxDepth + 2) + ":1\r\n", "nested more than 8 deep")
        refuses("*\(Int64(Int32.max) + 1)\r\n", "array length 2147483648")
        refuses("+" + String(repeating: "a", count: RESPParser.maxLineBytes + 1) + "\r\n", "a line longer than \(RESPParser.maxLineBytes) bytes at offset 0")
        #expect(try Self.parseAll(Array(("+" + String(repeating: "a", count: RESPParser.maxLineBytes - 1) + "\r\n").utf8))?.count == 1, "a line at the limit")
        // The deepest hiredis takes, this takes too.
        let deepest = String(repeating: "*1\r\n", count: RESPParser.maxDepth + 1) + ":1\r\n"
        #expect(try Self.parseAll(Array(deepest.utf8)) == Self.hiredisAll(Array(deepest.utf8)))
        #expect(try Self.parseAll(Array(":-9223372036854775808\r\n".utf8)) == [.integer(.min)])
        // A claimed length longer than the bytes: need more, nothing reserved for it.
        #expect(try Self.parseAll(Array("*2147483647\r\n:1\r\n".utf8)) == nil)
        #expect(try Self.parseAll(Array("$100\r\nab".utf8)) == nil)
    }
}

/// A small deterministic generator (tests only).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
