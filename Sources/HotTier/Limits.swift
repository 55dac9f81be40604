/// Limits of the hot tier that bound what one ticket may hold in Redis.
public enum HotTierLimits {
    /// Events a ticket may hold that arrived before ones of the same writer they follow (a gap
    /// in the writer's counters, filled when the late ones come). Delivery that is merely out
    /// of order stays far below it; a writer that skips counters for good reaches it, and its
    /// events are then refused (422) instead of growing the ticket and the merge's cost.
    public static let maxPendingDotsPerTicket = 1024
    /// Writers one ticket may have (a stamp holds the writer's index in 6 bits).
    public static let maxWritersPerTicket = 63
}
