/// Values as text: the forms DuckDB prints (ISO dates, `…+00` timestamps in UTC).
public enum Formatter {
    public static func text(_ v: Value, _ type: SQLType, zone: TimeZoneRule = .utc) -> String {
        switch v {
        case .null: return "NULL"
        case .string(let s): return s
        case .interval(let x): return x.description
        case .double(let d): return double(d)
        case .int(let i):
            switch type {
            case .timestamp: return TimeMath.formatTimestamp(i, zone: zone)
            case .date: return TimeMath.formatDate(i)
            case .boolean: return i != 0 ? "true" : "false"
            case .double: return double(Double(i))
            default: return String(i)
            }
        }
    }

    public static func double(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        return "\(d)"
    }
}
