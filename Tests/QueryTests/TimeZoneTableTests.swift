import Foundation
import Testing
@testable import Query

/// A zone's table of offset changes gives Foundation's offset at every instant.
@Suite struct TimeZoneTableTests {
    @Test(arguments: ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo", "Pacific/Apia"])
    func offsetsEqualFoundations(_ name: String) throws {
        let zone = try #require(TimeZone(identifier: name))
        let table = OffsetTable(zone)
        #expect(table.trusted, "the table of \(name) disagreed with Foundation when built")
        var rng = SystemRandomNumberGenerator()
        var instants = (0..<20_000).map { _ in Int64.random(in: 0...4_102_444_800_000, using: &rng) }  // 1970-2100
        // Around every change: a second before, at, and a second after.
        for s in table.starts { instants += [s - 1000, s, s + 1000] }
        for ms in instants {
            let want = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))) * 1000
            #expect(table.offset(at: ms) == want, "\(name) at \(ms)")
        }
        if name == "America/New_York" { #expect(table.starts.count > 200) }
    }
}
