import StrataCore

/// One write from the ticket service (the event format of docs/workload.md).
public struct TicketEvent: Sendable, Equatable {
    /// What the ticket service may send.
    public enum Op: String, Sendable {
        case create, patch
    }

    /// A ticket coming back from the cold tier, folded in ahead of its events (docs/tiering.md):
    /// never from outside, only made by `HotTier.apply`.
    enum ColdFold: Sendable, Equatable {
        /// An imported row without merge state: its values, stamped with the cold version.
        case base(version: Int64)
        /// The row with the merge state the hot tier last held (`MergeState`).
        case restore(state: [UInt8])
    }

    /// A field's new value: null clears it.
    public enum Value: Sendable, Equatable {
        case null
        case integer(Int64)
        case string(String)
    }

    public var op: Op
    public var id: Int64
    public var writer: String
    /// The writer's version vector after its change, in the order given.
    public var vv: [(writer: String, count: Int64)]
    /// Changed fields: column index in `Tables.tickets` and value.
    public var fields: [(column: Int, value: Value)]
    /// The event's `updated_at` (ms): its place in time for metrics and the change log.
    public var at: Int64

    /// Set on the internal events that fold a cold ticket back in (then `op` is `.patch`).
    var coldFold: ColdFold? = nil

    public var lamport: Int64 {
        if case .base(let version)? = coldFold { return version }
        return vv.reduce(0) { $0 &+ $1.count }
    }

    public init(op: Op, id: Int64, writer: String, vv: [(writer: String, count: Int64)],
                fields: [(column: Int, value: Value)], at: Int64) {
        precondition(vv.contains { $0.writer == writer }, "the vector must include the writer")
        self.op = op
        self.id = id
        self.writer = writer
        self.vv = vv
        self.fields = fields
        self.at = at
    }

    /// The internal event that folds cold ticket `id` back in: writer "" with count 0.
    init(folding fold: ColdFold, id: Int64, fields: [(column: Int, value: Value)]) {
        self.init(op: .patch, id: id, writer: "", vv: [("", 0)], fields: fields, at: 0)
        coldFold = fold
    }

    public static func == (a: TicketEvent, b: TicketEvent) -> Bool {
        a.op == b.op && a.id == b.id && a.coldFold == b.coldFold && a.writer == b.writer && a.at == b.at
            && a.vv.map(\.writer) == b.vv.map(\.writer) && a.vv.map(\.count) == b.vv.map(\.count)
            && a.fields.map(\.column) == b.fields.map(\.column) && a.fields.map(\.value) == b.fields.map(\.value)
    }
}

/// Why an event was refused, naming the field (a JSON path such as `fields.status`).
public struct EventError: Error, Equatable, CustomStringConvertible {
    public let field: String?
    public let message: String
    /// The event is well formed but cannot be applied as it stands (HTTP 422), such as a
    /// create that lacks required columns; otherwise it is malformed (HTTP 400).
    public let unprocessable: Bool
    public init(field: String?, _ message: String, unprocessable: Bool = false) {
        self.field = field
        self.message = message
        self.unprocessable = unprocessable
    }
    public var description: String { (field.map { "\($0): " } ?? "") + message }
}

/// Checks and converts a JSON event. Every limit and type rule is here.
public enum EventDecoder {
    public static let maxEventBytes = 256 << 10
    public static let maxWriterBytes = 64
    public static let maxVectorEntries = 63
    public static let maxFields = 32
    public static let maxStringBytes = Tables.maxStringBytes
    /// Values a column may hold beyond its storage type's range (B11): a CSAT score is 1-5,
    /// counts are not negative, ids are positive.
    public static let domains: [String: ClosedRange<Int64>] = [
        "satisfaction": 1...5, "reopen_count": 0...Int64(Int32.max), "agent_id": 1...Int64.max, "customer_id": 1...Int64.max,
    ]
    /// Columns a create must set: those that cannot be null, but for `id` and `version`.
    public static let requiredColumns: [Int] = Tables.tickets.columns.indices.filter { i in
        let c = Tables.tickets.columns[i]
        return !c.nullable && c.name != Tables.tickets.idColumn && c.name != "version"
    }

    /// A writer name: 1 to `maxWriterBytes` bytes, without '|', ',' or a control character (the change log's separators).
    static func isWriterName(_ w: String) -> Bool {
        let u = w.utf8
        // '|' and ',' separate a change-log line's fields and names, '\n' its lines.
        return !u.isEmpty && u.count <= maxWriterBytes && !u.contains { $0 == 0x7C || $0 == 0x2C || $0 < 0x20 || $0 == 0x7F }
    }
    static let vectorCounts: ClosedRange<Int64> = 1...(1 << 40)

    /// What is wrong with integer `n` for column `c`, or nil.
    static func integerProblem(_ n: Int64, column c: Int) -> String? {
        let def = Tables.tickets.columns[c]
        guard def.type.isInteger, def.type != .timestamp else {
            return "expected \(def.type == .timestamp ? "an RFC 3339 timestamp string" : def.type.description), got an integer"
        }
        guard def.type.integerRange.contains(n) else { return "\(n) is out of range for \(def.type)" }
        if let domain = domains[def.name], !domain.contains(n) {
            return domain.upperBound >= Int64(Int32.max) ? "must be at least \(domain.lowerBound), got \(n)"
                : "must be \(domain.lowerBound) to \(domain.upperBound), got \(n)"
        }
        return nil
    }

    /// What is wrong with string `s` for column `c` (not a timestamp), or nil.
    static func stringProblem(_ s: String, column c: Int) -> String? {
        let def = Tables.tickets.columns[c]
        if def.type.isInteger { return "expected \(def.type), got a string" }
        guard s.utf8.count <= maxStringBytes else { return "string over \(maxStringBytes) bytes" }
        if case .enumeration(let allowed) = def.type, !allowed.contains(s) {
            return "\"\(s.prefix(64))\" is not one of \(allowed.joined(separator: ", "))"
        }
        return nil
    }

    /// The required columns a create lacks (`given`: a bit per column set).
    static func missingRequired(_ given: UInt64) -> [Int] {
        requiredColumns.filter { given & (1 << UInt64($0)) == 0 }
    }

    /// Columns that an event may write: all but `id` and `version`.
    static func isWritable(_ c: Int) -> Bool {
        let name = Tables.tickets.columns[c].name
        return name != Tables.tickets.idColumn && name != "version"
    }

    public static func decode(_ bytes: [UInt8]) throws(EventError) -> TicketEvent {
        let result = bytes.withUnsafeBufferPointer { b -> Result<TicketEvent, EventError> in
            do throws(EventError) { return .success(try decode(b)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// One event's bytes (a line of a bulk body, say).
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>) throws(EventError) -> TicketEvent {
        guard bytes.count <= maxEventBytes else { throw EventError(field: nil, "event of \(bytes.count) bytes is over the limit of \(maxEventBytes)") }
        // The common well-formed event straight from its bytes; anything else through the
        // JSON tree, which names what is wrong.
        if let e = EventScanner.scan(bytes) { return e }
        return try decodeByTree(Array(bytes))
    }

    /// The event through a JSON tree: the reference reading, and the one that names errors.
    public static func decodeByTree(_ bytes: [UInt8]) throws(EventError) -> TicketEvent {
        let json: JSONValue
        do { json = try JSONParser.parse(bytes) } catch { throw EventError(field: nil, "malformed JSON: \(error)") }
        return try decode(json)
    }

    public static func decode(_ json: JSONValue) throws(EventError) -> TicketEvent {
        guard case .object(let members) = json else { throw EventError(field: nil, "an event is a JSON object, got \(json.typeName)") }
        for (k, _) in members where !["op", "id", "writer", "vv", "fields"].contains(k) {
            throw EventError(field: k, "unknown key (an event has op, id, writer, vv, fields)")
        }
        guard let opValue = json["op"] else { throw EventError(field: "op", "missing") }
        guard case .string(let opText) = opValue else { throw EventError(field: "op", "expected a string, got \(opValue.typeName)") }
        guard let op = TicketEvent.Op(rawValue: opText), op == .create || op == .patch else { throw EventError(field: "op", "unknown op \"\(opText)\" (create or patch)") }
        guard let idValue = json["id"] else { throw EventError(field: "id", "missing") }
        guard case .integer(let id) = idValue else { throw EventError(field: "id", "expected an integer, got \(idValue.typeName)") }
        guard id > 0 else { throw EventError(field: "id", "must be positive, got \(id)") }
        guard let writerValue = json["writer"] else { throw EventError(field: "writer", "missing") }
        guard case .string(let writer) = writerValue else { throw EventError(field: "writer", "expected a string, got \(writerValue.typeName)") }
        guard isWriterName(writer) else {
            throw EventError(field: "writer", writer.isEmpty || writer.utf8.count > maxWriterBytes ? "must be 1 to \(maxWriterBytes) bytes" : "must not contain '|', ',' or a control character")
        }
        guard let vvValue = json["vv"] else { throw EventError(field: "vv", "missing") }
        guard case .object(let vvMembers) = vvValue else { throw EventError(field: "vv", "expected an object, got \(vvValue.typeName)") }
        guard !vvMembers.isEmpty, vvMembers.count <= maxVectorEntries else { throw EventError(field: "vv", "must have 1 to \(maxVectorEntries) entries") }
        var vv = [(writer: String, count: Int64)]()
        for (w, c) in vvMembers {
            guard isWriterName(w) else {
                throw EventError(field: "vv", w.isEmpty || w.utf8.count > maxWriterBytes ? "writer names must be 1 to \(maxWriterBytes) bytes" : "writer names must not contain '|', ',' or a control character")
            }
            guard case .integer(let n) = c else { throw EventError(field: "vv.\(w)", "expected an integer, got \(c.typeName)") }
            guard vectorCounts.contains(n) else { throw EventError(field: "vv.\(w)", "must be between 1 and 2^40, got \(n)") }
            vv.append((w, n))
        }
        guard vv.contains(where: { $0.writer == writer }) else { throw EventError(field: "vv", "must include the writer \"\(writer)\"") }
        guard let fieldsValue = json["fields"] else { throw EventError(field: "fields", "missing") }
        guard case .object(let fieldMembers) = fieldsValue else { throw EventError(field: "fields", "expected an object, got \(fieldsValue.typeName)") }
        guard fieldMembers.count <= maxFields else { throw EventError(field: "fields", "more than \(maxFields) fields") }
        var fields = [(column: Int, value: TicketEvent.Value)]()
        var at: Int64? = nil
        let schema = Tables.tickets
        for (name, v) in fieldMembers {
            let path = "fields.\(name)"
            guard let c = schema.index(of: name), isWritable(c) else {
                throw EventError(field: path, name == "id" || name == "version" ? "is not writable" : "unknown field")
            }
            let def = schema.columns[c]
            let value: TicketEvent.Value
            switch v {
            case .null:
                guard def.nullable else { throw EventError(field: path, "cannot be null") }
                value = .null
            case .integer(let n):
                if let problem = integerProblem(n, column: c) { throw EventError(field: path, problem) }
                value = .integer(n)
            case .string(let s):
                if def.type == .timestamp {
                    guard let ms = Timestamp.parse(s) else { throw EventError(field: path, "invalid timestamp \"\(s.prefix(64))\" (RFC 3339 expected)") }
                    value = .integer(ms)
                } else {
                    if let problem = stringProblem(s, column: c) { throw EventError(field: path, problem) }
                    value = .string(s)
                }
            default:
                throw EventError(field: path, "expected \(def.type), got a JSON \(v.typeName)")
            }
            if name == "updated_at", case .integer(let ms) = value { at = ms }
            fields.append((c, value))
        }
        guard let at else { throw EventError(field: "fields.updated_at", "missing (every event carries its time)") }
        if op == .create {
            // A create starts the ticket: it sets every column SQL needs, so that what the API
            // accepted is what a query shows (docs/api.md, "Events").
            let missing = missingRequired(fields.reduce(0) { $0 | 1 << UInt64($1.column) })
            if !missing.isEmpty {
                throw EventError(field: "fields", "a create must set every required column; missing: "
                                 + missing.map { schema.columns[$0].name }.joined(separator: ", "), unprocessable: true)
            }
        }
        return TicketEvent(op: op, id: id, writer: writer, vv: vv, fields: fields, at: at)
    }
}
