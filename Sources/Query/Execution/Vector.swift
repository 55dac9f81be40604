import StrataCore

/// The types a query computes with (docs/sql.md, "Types").
public enum SQLType: String, Sendable, Equatable {
    case boolean, bigint, double, varchar, timestamp, date, interval

    public var isNumeric: Bool { self == .bigint || self == .double }
    /// Held in `Vector.ints`: bigint, timestamp (ms since the epoch, UTC), date (days), boolean (0/1).
    public var usesInts: Bool { self != .double && self != .varchar && self != .interval }
    public var sqlName: String {
        switch self {
        case .boolean: return "BOOLEAN"
        case .bigint: return "BIGINT"
        case .double: return "DOUBLE"
        case .varchar: return "VARCHAR"
        case .timestamp: return "TIMESTAMP WITH TIME ZONE"
        case .date: return "DATE"
        case .interval: return "INTERVAL"
        }
    }

    static func of(_ t: LogicalType) -> SQLType {
        switch t {
        case .int8, .int32, .int64: return .bigint
        case .timestamp: return .timestamp
        case .string, .enumeration: return .varchar
        }
    }
}

/// One value of a result row (and of constants). Timestamps and dates are `.int`; the
/// column's type says which.
public enum Value: Hashable, Sendable {
    case null
    case int(Int64)
    case double(Double)
    case string(String)
    case interval(Interval)

    public var isNull: Bool { if case .null = self { return true } else { return false } }
}

/// A column of values for a run of rows: one storage array per kind, the one the type uses.
public struct Vector: Sendable {
    public var type: SQLType
    public var ints: [Int64] = []
    public var doubles: [Double] = []
    /// Text, one string per row, unless `dictionary` holds it (then empty).
    public private(set) var strings: [String] = []
    public var intervals: [Interval] = []
    /// Text read from a dictionary-encoded column stays codes into its words: comparisons
    /// with constants are decided once per distinct word, group keys found once per word,
    /// and no string is made per row until one is asked for (`string(i)`, late
    /// materialization). Only vectors from a stored column (and their gathers) carry it.
    public private(set) var dictionary: (codes: [UInt32], words: [String])?
    /// true = null.
    public var nulls: [Bool]

    public var count: Int { nulls.count }

    public init(type: SQLType, count: Int = 0) {
        self.type = type
        nulls = []
        nulls.reserveCapacity(count)
        switch type {
        case .double: doubles.reserveCapacity(count)
        case .varchar: strings.reserveCapacity(count)
        case .interval: intervals.reserveCapacity(count)
        default: ints.reserveCapacity(count)
        }
    }

    public init(type: SQLType, ints: [Int64], nulls: [Bool]) {
        self.type = type
        self.ints = ints
        self.nulls = nulls
    }

    /// Row `i`'s text (a varchar vector; "" at a null).
    @inline(__always)
    public func string(_ i: Int) -> String {
        if let d = dictionary { return d.words[Int(d.codes[i])] }
        return strings[i]
    }

    /// Every row's text as one array (made from the dictionary if need be).
    public var allStrings: [String] {
        guard let d = dictionary else { return strings }
        return d.codes.map { d.words[Int($0)] }
    }

    /// A varchar vector of dictionary codes (null rows hold any valid code).
    public init(codes: [UInt32], words: [String], nulls: [Bool]) {
        precondition(codes.count == nulls.count)
        type = .varchar
        self.nulls = nulls
        dictionary = (codes, words)
    }

    public mutating func append(_ v: Value) {
        if dictionary != nil {
            // Appending ends the dictionary form: the rows so far become plain strings.
            strings = allStrings
            dictionary = nil
        }
        switch (v, type) {
        case (.null, .double): doubles.append(0); nulls.append(true)
        case (.null, .varchar): strings.append(""); nulls.append(true)
        case (.null, .interval): intervals.append(.zero); nulls.append(true)
        case (.interval(let x), .interval): intervals.append(x); nulls.append(false)
        case (.interval, _), (_, .interval): preconditionFailure("\(v) into a \(type) vector")
        case (.null, _): ints.append(0); nulls.append(true)
        case (.int(let i), .double): doubles.append(Double(i)); nulls.append(false)
        case (.int(let i), _): ints.append(i); nulls.append(false)
        case (.double(let d), .double): doubles.append(d); nulls.append(false)
        case (.double(let d), _): ints.append(Int64(d)); nulls.append(false)
        case (.string(let s), .varchar): strings.append(s); nulls.append(false)
        case (.string, _): preconditionFailure("string into a \(type) vector")
        }
    }

    public func value(_ i: Int) -> Value {
        if nulls[i] { return .null }
        switch type {
        case .double: return .double(doubles[i])
        case .varchar: return .string(string(i))
        case .interval: return .interval(intervals[i])
        default: return .int(ints[i])
        }
    }

    /// The rows at `indices`, in that order.
    public func gather(_ indices: [Int]) -> Vector {
        if let d = dictionary {
            let codes = indices.map { d.codes[$0] }
            return Vector(codes: codes, words: d.words, nulls: indices.map { nulls[$0] })
        }
        var out = Vector(type: type, count: 0)
        switch type {
        case .double: out.doubles = doubles.withUnsafeBufferPointer { v in indices.map { v[$0] } }
        case .varchar: out.strings = indices.map { strings[$0] }
        case .interval: out.intervals = indices.map { intervals[$0] }
        default: out.ints = ints.withUnsafeBufferPointer { v in indices.map { v[$0] } }
        }
        out.nulls = nulls.withUnsafeBufferPointer { v in indices.map { v[$0] } }
        return out
    }

    /// A vector of one value repeated.
    public static func constant(_ v: Value, type: SQLType, count: Int) -> Vector {
        var one = Vector(type: type, count: 1)
        one.append(v)
        var out = Vector(type: type, count: 0)
        out.nulls = [Bool](repeating: one.nulls[0], count: count)
        switch type {
        case .double: out.doubles = [Double](repeating: one.doubles[0], count: count)
        case .varchar: out.strings = [String](repeating: one.strings[0], count: count)
        case .interval: out.intervals = [Interval](repeating: one.intervals[0], count: count)
        default: out.ints = [Int64](repeating: one.ints[0], count: count)
        }
        return out
    }

    /// The given rows of a stored column: each array taken out of the column once (not per
    /// row), and each dictionary word decoded once.
    public static func from(_ c: ColumnVector, type: SQLType, rows: [Int]) -> Vector {
        var out = Vector(type: type, count: rows.count)
        let n = rows.count, stored = c.count
        out.nulls = [Bool](unsafeUninitializedCapacity: n) { o, initialized in
            rows.withUnsafeBufferPointer { r in
                if let valid = c.validity?.bytes {
                    valid.withUnsafeBufferPointer { v in
                        for j in 0..<n {
                            let i = r[j]
                            precondition(UInt(bitPattern: i) < UInt(stored), "row outside the column")
                            o[j] = (v[i >> 3] >> UInt8(truncatingIfNeeded: i & 7)) & 1 == 0
                        }
                    }
                } else {
                    for j in 0..<n { precondition(UInt(bitPattern: r[j]) < UInt(stored), "row outside the column"); o[j] = false }
                }
            }
            initialized = n
        }
        switch c.values {
        case .integers(let a) where type != .varchar:
            // The rows were checked against the column's length above.
            out.ints = [Int64](unsafeUninitializedCapacity: n) { o, initialized in
                a.withUnsafeBufferPointer { a in rows.withUnsafeBufferPointer { r in for j in 0..<n { o[j] = a[r[j]] } } }
                initialized = n
            }
        case .dictionary(let codes, let dict) where type == .varchar && dict.count <= rows.count:
            // Fewer words than rows: decode the words, keep the rows' codes.
            let words = (0..<dict.count).map { dict.string(at: $0) }
            out.dictionary = (rows.map { codes[$0] }, words)
        case .dictionary(let codes, let dict) where type == .varchar:
            var words = [String?](repeating: nil, count: dict.count)
            for (k, i) in rows.enumerated() {
                if out.nulls[k] { out.strings.append(""); continue }
                let code = Int(codes[i])
                if let w = words[code] { out.strings.append(w) } else {
                    let w = dict.string(at: code)
                    words[code] = w
                    out.strings.append(w)
                }
            }
        case .strings(let column) where type == .varchar:
            for (k, i) in rows.enumerated() { out.strings.append(out.nulls[k] ? "" : column.string(at: i)) }
        default:
            for (k, i) in rows.enumerated() {
                if type == .varchar { out.strings.append(out.nulls[k] ? "" : c.string(at: i)!) } else { out.ints.append(out.nulls[k] ? 0 : c.integer(at: i)!) }
            }
        }
        return out
    }

    /// From a stored column (integers or strings) of the given type.
    public static func from(_ c: ColumnVector, type: SQLType) -> Vector {
        let n = c.count
        let nulls: [Bool] = c.validity?.clearFlags() ?? [Bool](repeating: false, count: n)
        switch c.values {
        case .integers(let a) where type != .varchar:
            return Vector(type: type, ints: a, nulls: nulls)  // shares the storage: no copy
        case .dictionary(let codes, let dict) where type == .varchar:
            // Each distinct string is built once; rows stay codes.
            return Vector(codes: codes, words: (0..<dict.count).map { dict.string(at: $0) }, nulls: nulls)
        case .strings(let column) where type == .varchar:
            var out = Vector(type: type, count: 0)
            out.strings = (0..<n).map { nulls[$0] ? "" : column.string(at: $0) }
            out.nulls = nulls
            return out
        default: break
        }
        var out = Vector(type: type, count: c.count)
        for i in 0..<c.count {
            if c.isNull(i) { out.append(.null); continue }
            if type == .varchar { out.strings.append(c.string(at: i)!) } else { out.ints.append(c.integer(at: i)!) }
            out.nulls.append(false)
        }
        return out
    }
}

/// Rows flowing between operators: one vector per column.
public struct Batch: Sendable {
    public var columns: [Vector]
    public var count: Int

    public init(columns: [Vector], count: Int) {
        precondition(columns.allSatisfy { $0.count == count })
        self.columns = columns
        self.count = count
    }

    public func gather(_ indices: [Int]) -> Batch {
        Batch(columns: columns.map { $0.gather(indices) }, count: indices.count)
    }
}
