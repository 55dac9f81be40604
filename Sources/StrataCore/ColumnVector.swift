/// Strings of one column, Arrow-style: `offsets[i] ..< offsets[i + 1]` are the UTF-8
/// bytes of value `i` inside `bytes`. `offsets` has one more element than there are values.
public struct StringColumn: Sendable, Equatable {
    public var offsets: [UInt32]
    public var bytes: [UInt8]

    public init() {
        offsets = [0]
        bytes = []
    }

    public init(offsets: [UInt32], bytes: [UInt8]) {
        precondition(!offsets.isEmpty && Int(offsets.last!) == bytes.count)
        self.offsets = offsets
        self.bytes = bytes
    }

    public var count: Int { offsets.count - 1 }

    /// Appends one value. A contiguous collection (an array, a slice, a buffer) is copied as
    /// one block even where this generic function runs unspecialized (from another module):
    /// there `append(contentsOf:)` would copy byte by byte through the protocol.
    public mutating func append<C: Collection>(_ value: C) where C.Element == UInt8 {
        if value.withContiguousStorageIfAvailable({ bytes.append(contentsOf: $0) }) == nil { bytes.append(contentsOf: value) }
        precondition(bytes.count <= Int(UInt32.max), "a string column holds at most 4 GiB")
        offsets.append(UInt32(bytes.count))
    }

    public mutating func append(_ value: String) {
        append(value.utf8)
    }

    public func bytes(at i: Int) -> ArraySlice<UInt8> {
        bytes[Int(offsets[i])..<Int(offsets[i + 1])]
    }

    public func string(at i: Int) -> String {
        String(decoding: bytes(at: i), as: UTF8.self)
    }
}

/// The values of one column for a run of rows: the unit that flows between the write
/// path, the segment codec and the query engine. Null slots hold 0 / the empty string.
public enum ColumnValues: Sendable, Equatable {
    /// Integers and timestamps.
    case integers([Int64])
    case strings(StringColumn)
    /// Strings as codes into a dictionary (what dictionary-encoded chunks decode to;
    /// filters can compare codes instead of bytes).
    case dictionary(codes: [UInt32], dictionary: StringColumn)
}

/// A column of `count` values with an optional validity bitmap (nil: no nulls).
public struct ColumnVector: Sendable, Equatable {
    public var values: ColumnValues
    public var validity: Bitmap?

    public init(values: ColumnValues, validity: Bitmap? = nil) {
        self.values = values
        self.validity = validity
        if let validity { precondition(validity.count == count) }
    }

    public static func emptyIntegers() -> ColumnVector { ColumnVector(values: .integers([])) }
    public static func emptyStrings() -> ColumnVector { ColumnVector(values: .strings(StringColumn())) }

    public static func empty(for type: LogicalType) -> ColumnVector {
        type.isInteger ? emptyIntegers() : emptyStrings()
    }

    public var count: Int {
        switch values {
        case .integers(let v): return v.count
        case .strings(let s): return s.count
        case .dictionary(let codes, _): return codes.count
        }
    }

    @inline(__always)
    public func isNull(_ i: Int) -> Bool {
        guard let validity else { return false }
        return !validity[i]
    }

    /// The given rows, in that order, kept in this column's representation: integers stay
    /// an array, dictionary codes stay codes into the same dictionary (no string is built).
    public func selecting(_ rows: [Int]) -> ColumnVector {
        var picked: Bitmap? = nil
        if let validity {
            var b = Bitmap(count: rows.count, allSet: false)
            for (k, i) in rows.enumerated() where validity[i] { b[k] = true }
            picked = b
        }
        switch values {
        case .integers(let a): return ColumnVector(values: .integers(rows.map { a[$0] }), validity: picked)
        case .dictionary(let codes, let dict): return ColumnVector(values: .dictionary(codes: rows.map { codes[$0] }, dictionary: dict), validity: picked)
        case .strings(let s):
            var out = StringColumn()
            for i in rows { out.append(s.bytes(at: i)) }
            return ColumnVector(values: .strings(out), validity: picked)
        }
    }

    public var nullCount: Int {
        guard let validity else { return 0 }
        return count - validity.setCount
    }

    /// The integer at `i` (nil when null). Traps if the column holds strings.
    public func integer(at i: Int) -> Int64? {
        guard !isNull(i), case .integers(let v) = values else { return nil }
        return v[i]
    }

    /// The string at `i` (nil when null). Traps if the column holds integers.
    public func string(at i: Int) -> String? {
        guard !isNull(i) else { return nil }
        switch values {
        case .strings(let s): return s.string(at: i)
        case .dictionary(let codes, let dict): return dict.string(at: Int(codes[i]))
        case .integers: preconditionFailure("string(at:) on an integer column")
        }
    }

    /// The bytes of the string at `i` (nil when null). Traps if the column holds integers.
    public func bytes(at i: Int) -> [UInt8]? {
        guard !isNull(i) else { return nil }
        switch values {
        case .strings(let s): return Array(s.bytes(at: i))
        case .dictionary(let codes, let dict): return Array(dict.bytes(at: Int(codes[i])))
        case .integers: preconditionFailure("bytes(at:) on an integer column")
        }
    }

    // MARK: building

    private mutating func appendValidity(_ valid: Bool) {
        if validity == nil {
            if valid { return }
            validity = Bitmap(count: count, allSet: true)
        }
        validity!.append(valid)
    }

    public mutating func appendInteger(_ v: Int64) {
        guard case .integers(var a) = values else { preconditionFailure("appendInteger on a string column") }
        appendValidity(true)
        values = .integers([])  // keep `a` uniquely referenced while appending
        a.append(v)
        values = .integers(a)
    }

    public mutating func appendString<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        guard case .strings(var s) = values else { preconditionFailure("appendString on a non-string column") }
        appendValidity(true)
        values = .integers([])
        s.append(bytes)
        values = .strings(s)
    }

    public mutating func appendNull() {
        appendValidity(false)
        switch values {
        case .integers(var a):
            values = .integers([])
            a.append(0)
            values = .integers(a)
        case .strings(var s):
            values = .integers([])
            s.append(EmptyCollection<UInt8>())
            values = .strings(s)
        case .dictionary:
            preconditionFailure("appendNull on a dictionary column")
        }
    }

    /// Rows `start ..< start + length` as a new vector.
    public func slice(_ start: Int, _ length: Int) -> ColumnVector {
        precondition(start >= 0 && length >= 0 && start + length <= count)
        let v: ColumnValues
        switch values {
        case .integers(let a): v = .integers(Array(a[start..<start + length]))
        case .strings(let s):
            let lo = s.offsets[start], hi = s.offsets[start + length]
            v = .strings(StringColumn(offsets: s.offsets[start...(start + length)].map { $0 - lo },
                                      bytes: Array(s.bytes[Int(lo)..<Int(hi)])))
        case .dictionary(let codes, let dict): v = .dictionary(codes: Array(codes[start..<start + length]), dictionary: dict)
        }
        return ColumnVector(values: v, validity: validity.map { $0.slice(start, length) })
    }

    /// Reserves room for `n` more values.
    public mutating func reserveCapacity(_ n: Int) {
        switch values {
        case .integers(var a):
            values = .integers([])
            a.reserveCapacity(n)
            values = .integers(a)
        case .strings(var s):
            values = .integers([])
            s.offsets.reserveCapacity(n + 1)
            values = .strings(s)
        case .dictionary: break
        }
    }
}

extension ColumnVector {
    /// Appends all of `other`'s rows. Dictionary vectors are appended as plain strings.
    public mutating func append(contentsOf other: ColumnVector) {
        let before = count
        switch (values, other.values) {
        case (.integers(var a), .integers(let b)):
            values = .integers([])
            a.append(contentsOf: b)
            values = .integers(a)
        case (.strings(var s), .strings(let t)):
            values = .integers([])
            let base = UInt32(s.bytes.count)
            s.bytes.append(contentsOf: t.bytes)
            precondition(s.bytes.count <= Int(UInt32.max), "a string column holds at most 4 GiB")
            s.offsets.append(contentsOf: t.offsets.dropFirst().map { $0 + base })
            values = .strings(s)
        case (.strings(var s), .dictionary(let codes, let dict)):
            values = .integers([])
            for c in codes { s.append(dict.bytes(at: Int(c))) }
            values = .strings(s)
        default:
            preconditionFailure("append(contentsOf:) between different kinds of columns")
        }
        if validity != nil || other.validity != nil {
            var v = validity ?? Bitmap(count: before, allSet: true)
            v.reserveCapacity(before + other.count)
            for i in 0..<other.count { v.append(!other.isNull(i)) }
            validity = v
        }
    }
}
