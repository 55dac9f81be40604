import Tiering
import Dispatch
import Hummingbird
import Query
import HotTier
import Logging
import NIOCore
import RedisClient
import StrataCore
import Synchronization

/// `POST /v1/events`, `POST /v1/events/_bulk` and `GET /v1/tickets/{id}` (docs/api.md).
extension StrataServer {
    func postEvent(_ request: Request) async throws -> Response {
        let body: [UInt8]
        switch await collectBody(request, upTo: config.maxEventBytes) {
        case .body(let b): body = b
        case .failed(let r): return r
        case .tooLarge: return Self.error(.contentTooLarge, "too_large", "an event body may be at most \(config.maxEventBytes) bytes; use /v1/events/_bulk for many")
        }
        let event: TicketEvent
        do { event = try EventDecoder.decode(body) } catch {
            metrics.eventsRejected.increment()
            return error.unprocessable ? Self.error(.unprocessableContent, "incomplete_create", error.message, field: error.field)
                : Self.error(.badRequest, "invalid_event", error.message, field: error.field)
        }
        let outcome = try await writes.apply([event])[0]
        switch outcome {
        case .accepted:
            metrics.eventsApplied.increment()
            return Self.json(.ok, #"{"status":"applied"}"#)
        case .alreadyKnown:
            metrics.eventsDuplicate.increment()
            return Self.json(.ok, #"{"status":"duplicate"}"#)
        case .notHot:
            return Self.error(.internalServerError, "internal", "ticket \(event.id) could not be resolved between the tiers; retry")
        case .refused:
            metrics.eventsRejected.increment()
            return Self.error(.unprocessableContent, "too_many_writers", "ticket \(event.id) would have more than 63 writers", field: "vv")
        case .tooManyPending:
            metrics.eventsRejected.increment()
            return Self.error(.unprocessableContent, "too_many_pending", Self.pendingMessage(event), field: "vv")
        }
    }

    func postBulk(_ request: Request) async throws -> Response {
        let body: [UInt8]
        switch await collectBody(request, upTo: config.maxBulkBytes) {
        case .body(let b): body = b
        case .failed(let r): return r
        case .tooLarge: return Self.error(.contentTooLarge, "too_large", "a bulk body may be at most \(config.maxBulkBytes) bytes")
        }
        let parsed = BulkBody.parse(body, maxLines: config.maxBulkLines, maxLineBytes: config.maxEventBytes)
        if let problem = parsed.problem { return Self.error(.contentTooLarge, "too_large", problem) }
        let outcomes = try await writes.apply(parsed.events)
        let answer = Self.bulkAnswer(parsed, outcomes)
        metrics.eventsApplied.increment(by: Int64(answer.applied))
        metrics.eventsDuplicate.increment(by: Int64(answer.duplicates))
        metrics.eventsRejected.increment(by: Int64(answer.rejected))
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: answer.body))
    }

    /// The bulk answer (docs/api.md): the counts, then one result per line in line order,
    /// written straight into one buffer (a bulk of 1,000 events made 1,000 Strings, sorted
    /// and joined). `parsed.events` and `parsed.rejected` are each in line order.
    static func bulkAnswer(_ parsed: BulkBody, _ outcomes: [ApplyOutcome]) -> (body: ByteBuffer, applied: Int, duplicates: Int, rejected: Int) {
        var applied = 0, duplicates = 0, refused = 0
        for o in outcomes {
            switch o {
            case .accepted: applied += 1
            case .alreadyKnown: duplicates += 1
            case .refused, .notHot, .tooManyPending: refused += 1
            }
        }
        var out = ByteBuffer()
        out.reserveCapacity(64 + 36 * (parsed.events.count + parsed.rejected.count))
        out.writeString(#"{"applied":\#(applied),"duplicates":\#(duplicates),"rejected":\#(parsed.rejected.count + refused),"results":["#)
        var e = 0, r = 0, first = true
        while e < parsed.events.count || r < parsed.rejected.count {
            if !first { out.writeInteger(UInt8(ascii: ",")) }
            first = false
            if r < parsed.rejected.count && (e == parsed.events.count || parsed.rejected[r].line < parsed.lines[e]) {
                let (line, error) = parsed.rejected[r]
                out.writeString(#"{"line":\#(line),"status":"rejected","error":\#(Self.errorObject(error))}"#)
                r += 1
                continue
            }
            let line = parsed.lines[e]  // the event itself only where a message names it (a copy retains its strings)
            out.writeStaticString(#"{"line":"#)
            out.writeString(String(line))
            switch outcomes[e] {
            case .accepted: out.writeStaticString(#","status":"applied"}"#)
            case .alreadyKnown: out.writeStaticString(#","status":"duplicate"}"#)
            case .refused:
                out.writeStaticString(#","status":"rejected","error":{"field":"vv","message":"the ticket would have more than 63 writers"}}"#)
            case .notHot:  // as for one event: the tiers could not be resolved; the client retries the line
                out.writeString(#","status":"rejected","error":{"code":"internal","message":"ticket \#(parsed.events[e].id) could not be resolved between the tiers; retry"}}"#)
            case .tooManyPending:
                out.writeString(#","status":"rejected","error":{"code":"too_many_pending","field":"vv","message":\#(jsonString(Self.pendingMessage(parsed.events[e])))}}"#)
            }
            e += 1
        }
        out.writeStaticString("]}")
        return (out, applied, duplicates, parsed.rejected.count + refused)
    }

    static func pendingMessage(_ e: TicketEvent) -> String {
        "ticket \(e.id) already holds \(HotTierLimits.maxPendingDotsPerTicket) events that arrived before earlier ones of their writers; "
            + "\(e.writer)'s counter \(e.vv.first { $0.writer == e.writer }?.count ?? 0) is refused until the gaps fill (does a writer skip counters?)"
    }

    func getTicket(_ text: String) async throws -> Response {
        guard let id = Int64(text), id > 0 else {
            return Self.error(.badRequest, "invalid_id", "ticket id must be a positive integer, got \"\(text.prefix(40))\"")
        }
        if let t = try await hot.ticket(id) { return Self.json(.ok, t.json()) }
        if let coldLookup, let json = try coldLookup(id) { return Self.json(.ok, json) }
        return Self.error(.notFound, "not_found", "ticket \(id) is not in the hot or the cold tier")
    }

    /// `POST /v1/query`: the body is `{"sql": "...", "format": "json|csv|ndjson"}` or the SQL
    /// text itself (`?format=` then picks the format). Errors are JSON with the kind, the
    /// message and, for errors in the text, line and column.
}
