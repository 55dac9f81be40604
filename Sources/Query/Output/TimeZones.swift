import Foundation
import Synchronization

extension TimeZoneRule {
    /// A zone by IANA name (`Europe/Berlin`), its offsets from the system's zone database;
    /// nil for an unknown name. `UTC` needs no database.
    public static func named(_ name: String) -> TimeZoneRule? {
        if name == "UTC" || name == "Etc/UTC" { return .utc }
        guard let zone = TimeZone(identifier: name) else { return nil }
        let table = OffsetTable.shared(zone, name: name)
        return TimeZoneRule(name: name) { ms in table.offset(at: ms) }
    }
}

/// A zone's offsets from 1900 to 2200 as a sorted table of changes, looked up by binary
/// search instead of asking Foundation for every value (a query calls it two or three
/// times per row). The table is checked against Foundation every 15 days of the range
/// when built; if any point disagrees, or outside the range, Foundation answers.
struct OffsetTable: Sendable {
    let zone: TimeZone
    /// The instants (ms) at which the offset changes, ascending, and the offset (ms) from each.
    let starts: [Int64]
    let offsets: [Int64]
    /// The offset before the first change.
    let initial: Int64
    let range: ClosedRange<Int64>
    /// False when the table disagreed with Foundation: Foundation answers every lookup.
    let trusted: Bool

    /// One table per zone for the process (built in about 10 ms, then shared by every query).
    static let tables = Mutex([String: OffsetTable]())

    static func shared(_ zone: TimeZone, name: String) -> OffsetTable {
        if let t = tables.withLock({ $0[name] }) { return t }
        let t = OffsetTable(zone)
        tables.withLock { if $0.count < 1_000 { $0[name] = t } }
        return t
    }

    static let from: Int64 = -2_208_988_800_000  // 1900-01-01
    static let to: Int64 = 7_258_118_400_000  // 2200-01-01

    init(_ zone: TimeZone) {
        self.zone = zone
        func foundation(_ ms: Int64) -> Int64 { Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))) * 1000 }
        var starts = [Int64](), offsets = [Int64]()
        var t = Date(timeIntervalSince1970: Double(Self.from) / 1000)
        let end = Date(timeIntervalSince1970: Double(Self.to) / 1000)
        while let next = zone.nextDaylightSavingTimeTransition(after: t), next < end, starts.count < 10_000 {
            let ms = Int64((next.timeIntervalSince1970 * 1000).rounded())
            starts.append(ms)
            offsets.append(foundation(ms))
            t = next
        }
        self.starts = starts
        self.offsets = offsets
        initial = foundation(Self.from)
        range = Self.from...Self.to
        var agrees = true
        var ms = Self.from
        while ms < Self.to && agrees {
            agrees = Self.lookup(ms, starts, offsets, initial) == foundation(ms)
            ms += 15 * 86_400_000
        }
        trusted = agrees
    }

    func offset(at ms: Int64) -> Int64 {
        guard trusted, range.contains(ms) else {
            return Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))) * 1000
        }
        return Self.lookup(ms, starts, offsets, initial)
    }

    static func lookup(_ ms: Int64, _ starts: [Int64], _ offsets: [Int64], _ initial: Int64) -> Int64 {
        // The last change at or before `ms`.
        var lo = 0, hi = starts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if starts[mid] <= ms { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? initial : offsets[lo - 1]
    }
}
