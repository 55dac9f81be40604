import Testing
@testable import HotTier

@Suite struct BulkBodyTests {
    static func event(_ id: Int) -> String {
        #"{"op":"create","id":\#(id),"writer":"svc","vv":{"svc":1},"fields":{"created_at":"2026-08-03T00:31:15.357Z","status":"new","priority":"normal","channel":"web","queue":"sales","customer_id":44,"subject":"s","tags":"","reopen_count":0,"updated_at":"2026-08-03T00:31:15.357Z"}}"#
    }

    /// Lines split on LF (a CR before it dropped), blank lines (empty or spaces and tabs)
    /// skipped but counted, 1-based line numbers on both events and rejections.
    @Test func linesBlanksAndNumbers() {
        let body = Self.event(1) + "\r\n\n  \t \n" + Self.event(2) + "\n{\"op\":\"create\"}\n \(Self.event(3))"
        let parsed = BulkBody.parse(Array(body.utf8), maxLines: 10, maxLineBytes: 4096)
        #expect(parsed.problem == nil, "\(parsed.rejected.map { "\($0.line): \($0.error)" })")
        #expect(parsed.events.map(\.id) == [1, 2, 3])
        #expect(parsed.lines == [1, 4, 6])  // the last line starts with a space and is an event
        #expect(parsed.rejected.map(\.line) == [5])
    }

    /// A body of blanks has no events; no trailing newline is needed; an empty body is empty.
    @Test func edges() {
        #expect(BulkBody.parse(Array("\n\n \n".utf8), maxLines: 10, maxLineBytes: 4096).events.isEmpty)
        #expect(BulkBody.parse([], maxLines: 10, maxLineBytes: 4096).events.isEmpty)
        let one = BulkBody.parse(Array(Self.event(7).utf8), maxLines: 10, maxLineBytes: 4096)
        #expect(one.events.map(\.id) == [7] && one.lines == [1])
    }

    /// Limits: a long line is rejected by number, too many events refuse the whole body.
    @Test func limits() {
        let long = BulkBody.parse(Array((Self.event(1) + "\n" + Self.event(2)).utf8), maxLines: 10, maxLineBytes: 100)
        #expect(long.events.isEmpty && long.rejected.map(\.line) == [1, 2])
        #expect(long.rejected.first?.error.message.contains("over the limit of 100") == true)
        let many = BulkBody.parse(Array((1...3).map(Self.event).joined(separator: "\n").utf8), maxLines: 2, maxLineBytes: 4096)
        #expect(many.problem == "more than 2 events in one bulk request")
    }
}
