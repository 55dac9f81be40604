import Testing
import StrataCore

/// The strict JSON parser's limits (issue 14: it bounded depth and string bytes, but not the
/// number of members, and its duplicate-key check was quadratic).
@Suite struct JSONParserTests {
    static func object(_ n: Int, last: String? = nil) -> [UInt8] {
        let members = (0..<n).map { #""k\#($0)":0"# } + (last.map { [#""\#($0)":1"#] } ?? [])
        return Array(("{" + members.joined(separator: ",") + "}").utf8)
    }

    @Test func manyKeysAreLinearAndDuplicatesAreFoundAnywhere() throws {
        // 9,999 distinct keys parse; with a quadratic check this was ~5e7 string compares.
        let clock = ContinuousClock()
        var parsed: JSONValue?
        let took = try clock.measure { parsed = try JSONParser.parse(Self.object(9_999)) }
        guard case .object(let members)? = parsed else { Issue.record("not an object"); return }
        #expect(members.count == 9_999)
        #expect(took < .seconds(2), "9,999 keys took \(took)")
        // A duplicate of an early key at the end, past the set's threshold, and among the first 16.
        for (n, dup) in [(9_998, "k3"), (5, "k0"), (16, "k15"), (17, "k16")] {
            #expect(throws: JSONError.self) { try JSONParser.parse(Self.object(n, last: dup)) }
            do { _ = try JSONParser.parse(Self.object(n, last: dup)) } catch {
                #expect(error.message == "duplicate key \"\(dup)\"", "\(error)")
            }
        }
    }

    @Test func objectsAndArraysHaveAMemberLimit() throws {
        _ = try JSONParser.parse(Self.object(JSONParser.maxMembers))
        do {
            _ = try JSONParser.parse(Self.object(JSONParser.maxMembers + 1))
            Issue.record("an object of \(JSONParser.maxMembers + 1) members parsed")
        } catch {
            #expect(error.message.contains("more than \(JSONParser.maxMembers) members"), "\(error)")
        }
        let items = Array(("[" + Array(repeating: "0", count: JSONParser.maxMembers + 1).joined(separator: ",") + "]").utf8)
        do {
            _ = try JSONParser.parse(items)
            Issue.record("an array of \(JSONParser.maxMembers + 1) items parsed")
        } catch {
            #expect(error.message.contains("more than \(JSONParser.maxMembers) items"), "\(error)")
        }
    }
}
