import RedisClient

/// Replies from Redis (`RESPParser`), checked against hiredis's reader (`RESPReader`), the
/// parser the connections used before: whatever `RESPParser` takes, hiredis takes as the
/// same replies. `RESPParser` may refuse more (a negative length other than -1, say): a
/// refusal is a clear error, never a wrong answer.
enum RESPFuzz {
    static func run(_ bytes: [UInt8]) -> String? {
        var mine = [RESPValue]()
        do {
            try bytes.withUnsafeBytes { raw in
                var at = 0
                while at < raw.count, let end = try RESPParser.end(of: raw, from: at) {
                    let (value, parsedEnd) = try RESPParser.parse(raw, from: at)
                    guard parsedEnd == end else { throw Mismatch(message: "the scan ends at \(end), the parse at \(parsedEnd)") }
                    mine.append(value)
                    at = end
                }
            }
        } catch let m as Mismatch {
            return m.message
        } catch {
            return nil  // refused: a protocol error, as the rules say
        }
        let reader = RESPReader()
        reader.feed(bytes)
        var theirs = [RESPValue]()
        do {
            while theirs.count < mine.count, let v = try reader.next() { theirs.append(v) }
        } catch {
            return "RESPParser read \(mine.count) replies where hiredis refuses the input: \(error)"
        }
        return theirs == mine ? nil : "RESPParser read \(mine) where hiredis reads \(theirs)"
    }

    struct Mismatch: Error { let message: String }
}
