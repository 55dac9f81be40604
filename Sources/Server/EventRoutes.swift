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
        let outcomes = try await writes.apply(parsed.events.map(\.event))
        var statuses = parsed.rejected.map { (line: $0.line, text: #"{"line":\#($0.line),"status":"rejected","error":\#(Self.errorObject($0.error))}"#) }
        var applied = 0, duplicates = 0, refused = 0
        for ((line, event), outcome) in zip(parsed.events, outcomes) {
            switch outcome {
            case .accepted: applied += 1; statuses.append((line, #"{"line":\#(line),"status":"applied"}"#))
            case .alreadyKnown: duplicates += 1; statuses.append((line, #"{"line":\#(line),"status":"duplicate"}"#))
            case .refused:
                refused += 1
                statuses.append((line, #"{"line":\#(line),"status":"rejected","error":{"field":"vv","message":"the ticket would have more than 63 writers"}}"#))
            case .notHot:  // as for one event: the tiers could not be resolved; the client retries the line
                refused += 1
                statuses.append((line, #"{"line":\#(line),"status":"rejected","error":{"code":"internal","message":"ticket \#(event.id) could not be resolved between the tiers; retry"}}"#))
            case .tooManyPending:
                refused += 1
                statuses.append((line, #"{"line":\#(line),"status":"rejected","error":{"code":"too_many_pending","field":"vv","message":\#(jsonString(Self.pendingMessage(event)))}}"#))
            }
        }
        metrics.eventsApplied.increment(by: Int64(applied))
        metrics.eventsDuplicate.increment(by: Int64(duplicates))
        metrics.eventsRejected.increment(by: Int64(parsed.rejected.count + refused))
        statuses.sort { $0.line < $1.line }
        let text = #"{"applied":\#(applied),"duplicates":\#(duplicates),"rejected":\#(parsed.rejected.count + refused),"results":["#
            + statuses.map(\.text).joined(separator: ",") + "]}"
        return Self.json(.ok, text)
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
