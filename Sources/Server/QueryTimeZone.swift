import Foundation
import Query

extension TimeZoneRule {
    /// A zone by IANA name (`Europe/Berlin`), its offsets from the system's zone database;
    /// nil for an unknown name. `UTC` needs no database.
    public static func named(_ name: String) -> TimeZoneRule? {
        if name == "UTC" || name == "Etc/UTC" { return .utc }
        guard let zone = TimeZone(identifier: name) else { return nil }
        return TimeZoneRule(name: name) { ms in
            Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))) * 1000
        }
    }
}
