import HotTier
import StrataCore

/// The hot tier's way into the cold tier (a reopened old ticket, GET of a ticket that is
/// not hot): through the snapshot, so that lookups read the segments and deletion vectors
/// queries read, and the "may it be cold?" test is exact and costs no disk read.
extension ColdTier: ColdTicketSource {
    public func mayHold(_ id: Int64) throws -> Bool {
        try snapshot()?.ticketRanges.contains { $0.contains(id) } ?? false
    }

    public func mayHold(_ ids: [Int64]) throws -> Set<Int64> {
        guard !ids.isEmpty, let ranges = try snapshot()?.ticketRanges, !ranges.isEmpty else { return [] }
        return Set(ids.filter { id in ranges.contains { $0.contains(id) } })
    }

    /// The ticket's current cold row, or nil when it has none.
    public func coldTicket(_ id: Int64) throws -> ColdTicketRow? {
        try snapshot()?.ticket(id)
    }

    public func coldState(_ id: Int64) throws -> (values: [TicketEvent.Value], version: Int64, mergeState: [UInt8]?)? {
        guard let row = try coldTicket(id), case .integer(let version) = row.values[Tables.tickets.index(of: "version")!] else { return nil }
        return (row.values, version, row.mergeState)
    }
}
