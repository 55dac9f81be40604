import HotTier
import StrataCore

/// Events as `POST /v1/events` takes them: an accepted event must hold the rules of
/// docs/api.md (checked again here, apart from the decoder), and written back as JSON it
/// must decode to the same event.
enum EventFuzz {
    static func run(_ bytes: [UInt8]) -> String? {
        // The scanner (the fast reading) and the JSON tree agree: the same event, or the same error.
        let tree: Result<TicketEvent, EventError>
        do { tree = .success(try EventDecoder.decodeByTree(bytes)) } catch { tree = .failure(error) }
        let event: TicketEvent
        do { event = try EventDecoder.decode(bytes) } catch {
            if case .success = tree { return "the tree decoder accepts what decode refuses: \(error.message)" }
            if case .failure(let e) = tree, e != error { return "decode says \(error), the tree decoder \(e)" }
            return error.message.isEmpty ? "a refusal without a message" : nil
        }
        switch tree {
        case .failure(let e): return "decode accepts what the tree decoder refuses: \(e)"
        case .success(let t) where t != event: return "decode and the tree decoder make different events"
        case .success: break
        }
        if let broken = rulesBroken(event) { return "accepted an event that \(broken)" }
        let again: TicketEvent
        do { again = try EventDecoder.decode(Array(json(event).utf8)) } catch {
            return "the accepted event, written back, is refused: \(error.message)"
        }
        return again == event ? nil : "the accepted event, written back, decodes to another event"
    }

    static func rulesBroken(_ e: TicketEvent) -> String? {
        if e.op != .create && e.op != .patch { return "has op \(e.op)" }
        if e.id < 1 { return "has id \(e.id)" }
        if e.writer.isEmpty || e.writer.utf8.count > EventDecoder.maxWriterBytes || e.writer.contains("|") || e.writer.contains(",") { return "has writer \(e.writer)" }
        if e.vv.isEmpty || e.vv.count > EventDecoder.maxVectorEntries { return "has \(e.vv.count) vector entries" }
        if Set(e.vv.map(\.writer)).count != e.vv.count { return "names a writer twice in its vector" }
        for (w, n) in e.vv where n < 1 || n > 1 << 40 || w.isEmpty || w.contains("|") || w.contains(",") { return "has vv \(w): \(n)" }
        if !e.vv.contains(where: { $0.writer == e.writer }) { return "lacks its writer in its vector" }
        if e.fields.count > EventDecoder.maxFields { return "has \(e.fields.count) fields" }
        let schema = Tables.tickets
        for (column, value) in e.fields {
            guard schema.columns.indices.contains(column) else { return "has column \(column)" }
            let c = schema.columns[column]
            if c.name == schema.idColumn || c.name == "version" { return "writes \(c.name)" }
            switch value {
            case .null where !c.nullable: return "clears \(c.name), which cannot be null"
            case .null: break
            case .integer(let v):
                guard c.type.isInteger else { return "has an integer for \(c.name)" }
                if !c.type.integerRange.contains(v) { return "has \(c.name) \(v) outside its type" }
                if let domain = EventDecoder.domains[c.name], !domain.contains(v) { return "has \(c.name) \(v) outside its domain" }
                if c.type == .timestamp && !(Timestamp.minMs...Timestamp.maxMs).contains(v) { return "has \(c.name) \(v) outside the timestamps" }
            case .string(let s):
                guard !c.type.isInteger else { return "has a string for \(c.name)" }
                if s.utf8.count > EventDecoder.maxStringBytes { return "has a \(s.utf8.count)-byte \(c.name)" }
                if case .enumeration(let names) = c.type, !names.contains(s) { return "has \(c.name) \(s)" }
            }
        }
        guard e.fields.contains(where: { schema.columns[$0.column].name == "updated_at" }) else { return "has no updated_at" }
        if Set(e.fields.map(\.column)).count != e.fields.count { return "sets a field twice" }
        if e.op == .create {
            let set = Set(e.fields.map(\.column))
            if let missing = EventDecoder.requiredColumns.first(where: { !set.contains($0) }) { return "creates without \(schema.columns[missing].name)" }
        }
        return nil
    }

    /// The event as a client would write it.
    static func json(_ e: TicketEvent) -> String {
        let schema = Tables.tickets
        let vv = e.vv.map { "\(jsonString($0.writer)):\($0.count)" }.joined(separator: ",")
        let fields = e.fields.map { column, value -> String in
            let c = schema.columns[column]
            let text: String
            switch value {
            case .null: text = "null"
            case .integer(let v) where c.type == .timestamp: text = jsonString(Timestamp.format(v))
            case .integer(let v): text = String(v)
            case .string(let s): text = jsonString(s)
            }
            return "\(jsonString(c.name)):\(text)"
        }.joined(separator: ",")
        return #"{"op":"\#(e.op.rawValue)","id":\#(e.id),"writer":\#(jsonString(e.writer)),"vv":{\#(vv)},"fields":{\#(fields)}}"#
    }
}
