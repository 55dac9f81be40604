/// The inputs from outside that Strata parses, each as one function over bytes that a
/// fuzzer calls (docs/fuzzing.md): it returns nil when the input was handled as the rules
/// say (accepted, or refused with a clear error) and a message when it found a wrong
/// answer; a crash or a hang is a fault by itself. `strata-fuzz` runs them under libFuzzer;
/// the test suite replays the committed corpus through them.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case sql, event, segment, resp

    /// One input; nil: handled as the rules say; else what is wrong.
    public func run(_ bytes: [UInt8]) -> String? {
        switch self {
        case .sql: return SQLFuzz.shared.run(bytes)
        case .event: return EventFuzz.run(bytes)
        case .segment: return SegmentFuzz.shared.run(bytes)
        case .resp: return RESPFuzz.run(bytes)
        }
    }

    /// The largest input worth trying (longer ones are cut by the fuzzer's -max_len).
    public var maxInputBytes: Int {
        switch self {
        case .sql: return 16 << 10
        case .event: return 8 << 10
        case .segment: return 64 << 10
        case .resp: return 8 << 10
        }
    }

    /// The valid segment that the segment target edits (a seed of its corpus).
    public static var validSegment: [UInt8] { SegmentFuzz.shared.valid }
}
