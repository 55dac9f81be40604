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

/// The HTTP API (docs/api.md): wires the hot tier, auth, limits and metrics to routes.
public final class StrataServer: @unchecked Sendable {
    public let config: ServerConfig
    public let hot: HotTier
    public let tokens: TokenStore?
    public let metrics = ServerMetrics()
    /// Looks a ticket up in the cold tier when it is not hot (JSON, or nil).
    public let coldLookup: (@Sendable (Int64) throws -> String?)?
    /// Where reopened old tickets are found (nil: no cold tier).
    public var coldSource: (any ColdTicketSource)? = nil
    /// A query engine over both tiers, in a time zone (nil: this server answers no queries).
    /// Throws (a `.unavailable` QueryError) when a tier cannot be opened: never half an answer.
    public var queryEngine: (@Sendable (TimeZoneRule) throws(QueryError) -> QueryEngine)? = nil
    /// The hot-ticket cache behind `queryEngine`, for /metrics.
    public var hotCache: HotTicketCache? = nil
    private let inFlight = Atomic<Int>(0)
    /// Queries running or streaming (each holds a thread until its reader has its answer).
    private let queriesRunning = RunningQueries()
    public static let maxConcurrentQueries = 16

    /// `tokens` nil means no authentication (`--insecure-no-auth`).
    public init(config: ServerConfig, hot: HotTier, tokens: TokenStore?, coldLookup: (@Sendable (Int64) throws -> String?)? = nil) {
        self.config = config
        self.hot = hot
        self.tokens = tokens
        self.coldLookup = coldLookup
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/v1/events") { request, _ in
            await self.handle("POST /v1/events", request, scope: .write) { try await self.postEvent(request) }
        }
        router.post("/v1/events/_bulk") { request, _ in
            await self.handle("POST /v1/events/_bulk", request, scope: .write) { try await self.postBulk(request) }
        }
        router.get("/v1/tickets/:id") { request, context in
            await self.handle("GET /v1/tickets/{id}", request, scope: .query) {
                try await self.getTicket(context.parameters.get("id") ?? "")
            }
        }
        router.post("/v1/query") { request, _ in
            await self.handle("POST /v1/query", request, scope: .query) { try await self.postQuery(request) }
        }
        router.get("/healthz") { request, _ in
            await self.handle("GET /healthz", request, scope: nil, limited: false) { Self.json(.ok, #"{"status":"ok"}"#) }
        }
        router.get("/readyz") { request, _ in
            await self.handle("GET /readyz", request, scope: nil, limited: false) {
                do {
                    _ = try await self.hot.pool.command(["PING"])
                    return Self.json(.ok, #"{"status":"ready","redis":"ok"}"#)
                } catch {
                    return Self.json(.serviceUnavailable, #"{"status":"not ready","redis":\#(jsonString("\(error)"))}"#,
                                     retryAfter: self.config.retryAfterSeconds)
                }
            }
        }
        router.get("/metrics") { request, _ in
            await self.handle("GET /metrics", request, scope: nil, limited: false) {
                // Two counts per shard, pipelined; left out while Redis cannot be reached.
                let counts = try? await self.hot.counts()
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                                body: .init(byteBuffer: ByteBuffer(string: self.metrics.render(pool: self.hot.pool, hotCache: self.hotCache, hotCounts: counts))))
            }
        }
        // A known path asked with another method: 405 with Allow, and a JSON body (B18).
        for (path, allowed) in [("/v1/events", "POST"), ("/v1/events/_bulk", "POST"), ("/v1/query", "POST"), ("/v1/tickets/:id", "GET"),
                                ("/healthz", "GET"), ("/readyz", "GET"), ("/metrics", "GET")] {
            for method in [HTTPRequest.Method.get, .post, .put, .delete, .patch] where method.rawValue != allowed {
                router.on(RouterPath(path), method: method) { _, _ in
                    var r = Self.error(.methodNotAllowed, "method_not_allowed", "\(path) takes \(allowed) only")
                    r.headers[.allow] = allowed
                    return r
                }
            }
        }
        // HEAD for the probes that use it (load balancers' health checks).
        router.head("/healthz") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"]) }
        router.addMiddleware { JSONNotFound() }
        return router
    }

    // MARK: the common path of every request

    func handle(_ route: String, _ request: Request, scope: Scope?, limited: Bool = true,
                _ body: () async throws -> Response) async -> Response {
        let started = ContinuousClock.now
        let response = await respond(request, scope: scope, limited: limited, body)
        metrics.record(route: route, status: Int(response.status.code), duration: ContinuousClock.now - started)
        return response
    }

    private func respond(_ request: Request, scope: Scope?, limited: Bool, _ body: () async throws -> Response) async -> Response {
        if let scope, let tokens {
            switch tokens.authorize(header: request.headers[.authorization], scope: scope) {
            case .allowed: break
            case .unauthenticated:
                var r = Self.error(.unauthorized, "unauthorized", "a valid bearer token is required")
                r.headers[.wwwAuthenticate] = "Bearer"
                return r
            case .forbidden(let name):
                return Self.error(.forbidden, "forbidden", "token \(name) lacks the \(scope.rawValue) scope")
            }
        }
        if limited {
            let now = inFlight.add(1, ordering: .relaxed).newValue
            metrics.inFlight.set(Double(now))
            defer { metrics.inFlight.set(Double(inFlight.subtract(1, ordering: .relaxed).newValue)) }
            if now > config.maxInFlight {
                metrics.overloaded.increment()
                return Self.error(.serviceUnavailable, "overloaded", "more than \(config.maxInFlight) requests in flight; retry later",
                                  retryAfter: config.retryAfterSeconds)
            }
            return await run(body)
        }
        return await run(body)
    }

    private func run(_ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let e as RedisError {
            metrics.overloaded.increment()
            return Self.error(.serviceUnavailable, "redis_unavailable", e.description, retryAfter: config.retryAfterSeconds)
        } catch let e as HTTPResponseError {
            return Self.error(e.status, "bad_request", "\(e)")
        } catch {
            return Self.error(.internalServerError, "internal", "\(error)")
        }
    }

    // MARK: request bodies

    enum Body {
        case body([UInt8])
        case tooLarge
        /// Too slow, or not a valid body (a malformed chunk, an unsupported encoding).
        case failed(Response)
    }

    /// The whole body, at most `limit` bytes, within `bodyTimeoutSeconds`: a client that
    /// sends part of a body and stops gets 408 and its connection closed, instead of holding
    /// it forever.
    func collectBody(_ request: Request, upTo limit: Int) async -> Body {
        if let te = request.headers[.transferEncoding]?.lowercased(), te != "chunked", te != "identity" {
            return .failed(Self.error(.notImplemented, "unsupported_encoding", "Transfer-Encoding \(te.prefix(40)) is not supported: send the body plain or chunked"))
        }
        if let cl = request.headers[.contentLength].flatMap({ Int($0) }), cl > limit { return .tooLarge }
        let timeout = config.bodyTimeoutSeconds
        let body = request.body
        // A race between the body and a timer, resolved once. The reading task is not waited
        // for when the timer wins (it cannot be cancelled while the client sends nothing): the
        // 408 closes the connection, which ends it.
        let once = Once()
        let outcome: Result<[UInt8], any Error>? = await withCheckedContinuation { (done: CheckedContinuation<Result<[UInt8], any Error>?, Never>) in
            let reader = Task {
                let r: Result<[UInt8], any Error>
                do { r = .success(Array(try await body.collect(upTo: limit).readableBytesView)) } catch { r = .failure(error) }
                if once.claim() { done.resume(returning: r) }
            }
            Task {
                try? await Task.sleep(for: .seconds(timeout))
                if once.claim() {
                    reader.cancel()
                    done.resume(returning: nil)
                }
            }
        }
        switch outcome {
        case .success(let b)?: return .body(b)
        case nil:
            metrics.bodyTimeouts.increment()
            var r = Self.error(.requestTimeout, "request_timeout", "the request body did not arrive within \(timeout) s")
            r.headers[.connection] = "close"
            return .failed(r)
        case .failure(let e)?:
            if e is NIOTooManyBytesError { return .tooLarge }
            // A malformed chunk or a connection that broke mid-body: a bad request, not a large one (B15).
            var r = Self.error(.badRequest, "invalid_body", "the request body could not be read: \(e)")
            r.headers[.connection] = "close"
            return .failed(r)
        }
    }

    // MARK: routes

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
        let outcome = try await hot.apply([event], cold: coldSource)[0]
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
        let outcomes = try await hot.apply(parsed.events.map(\.event), cold: coldSource)
        var statuses = parsed.rejected.map { (line: $0.line, text: #"{"line":\#($0.line),"status":"rejected","error":\#(Self.errorObject($0.error))}"#) }
        var applied = 0, duplicates = 0, refused = 0
        for ((line, event), outcome) in zip(parsed.events, outcomes) {
            switch outcome {
            case .accepted: applied += 1; statuses.append((line, #"{"line":\#(line),"status":"applied"}"#))
            case .alreadyKnown: duplicates += 1; statuses.append((line, #"{"line":\#(line),"status":"duplicate"}"#))
            case .refused, .notHot:
                refused += 1
                statuses.append((line, #"{"line":\#(line),"status":"rejected","error":{"field":"vv","message":"the ticket would have more than 63 writers"}}"#))
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
    func postQuery(_ request: Request) async throws -> Response {
        guard let queryEngine else { return Self.error(.notFound, "no_query_engine", "this server has no query engine") }
        let body: [UInt8]
        switch await collectBody(request, upTo: QueryLimits.maxQueryBytes + 1024) {
        case .body(let b): body = b
        case .failed(let r): return r
        case .tooLarge: return Self.error(.contentTooLarge, "too_large", "a query may be at most \(QueryLimits.maxQueryBytes) bytes")
        }
        var sql = String(decoding: body, as: UTF8.self)
        var formatName = request.uri.queryParameters["format"].map(String.init) ?? "json"
        var zoneName = request.uri.queryParameters["time_zone"].map(String.init) ?? "UTC"
        if body.first == UInt8(ascii: "{") {
            guard let json = try? JSONParser.parse(body), case .string(let text)? = json["sql"] else {
                return Self.error(.badRequest, "invalid_request", "expected {\"sql\": \"...\", \"format\": \"json|csv|ndjson\"} or the SQL text", field: "sql")
            }
            if case .object(let members) = json, let unknown = members.first(where: { !["sql", "format", "time_zone"].contains($0.key) }) {
                return Self.error(.badRequest, "invalid_request", "unknown key \"\(unknown.key.prefix(40))\" (a query request has sql, format, time_zone)", field: String(unknown.key.prefix(40)))
            }
            sql = text
            if case .string(let f)? = json["format"] { formatName = f }
            if case .string(let z)? = json["time_zone"] { zoneName = z }
        }
        guard let format = ResultFormat(rawValue: formatName), format != .table else {
            return Self.error(.badRequest, "invalid_request", "format must be json, csv, ndjson or markdown, not \"\(formatName.prefix(20))\"", field: "format")
        }
        guard let zone = TimeZoneRule.named(zoneName) else {
            return Self.error(.badRequest, "invalid_request", "unknown time zone \"\(zoneName.prefix(40))\" (an IANA name such as Europe/Berlin)", field: "time_zone")
        }
        // A streamed answer outlives this request's in-flight slot: queries have their own limit.
        guard queriesRunning.count.add(1, ordering: .relaxed).newValue <= Self.maxConcurrentQueries else {
            queriesRunning.count.subtract(1, ordering: .relaxed)
            return Self.error(.serviceUnavailable, "overloaded", "more than \(Self.maxConcurrentQueries) queries running; retry later", retryAfter: 1)
        }
        let running = queriesRunning
        let text = sql
        let writerFormat: ResultWriter.Format = [.csv: .csv, .ndjson: .ndjson, .markdown: .markdown][format] ?? .jsonDocument
        let pipe = AnswerPipe()
        // The query runs on its own thread (blocking reads, off the event loop) and streams:
        // the response starts once it is bound; errors before that are plain error answers.
        let begin: Result<String, QueryError> = await withCheckedContinuation { started in
            DispatchQueue.global().async {
                defer { running.count.subtract(1, ordering: .relaxed) }
                var writer: ResultWriter?
                var pieceRows = 1
                do throws(QueryError) {
                    var engine = try queryEngine(zone)
                    engine.isCancelled = { pipe.isCancelled }
                    try engine.stream(text, start: { columns in
                        writer = ResultWriter(writerFormat, columns: columns, zone: zone)
                        started.resume(returning: .success(writer!.header()))
                    }, rows: { rows in
                        // Pieces of at most about 64 KiB, so that "8 pieces ahead of the reader"
                        // bounds the bytes a slow reader makes the daemon hold (B4).
                        // The first piece is one row; each next one as many rows as the last
                        // piece's bytes per row say fit (a row is never split).
                        var start = rows.startIndex
                        while start < rows.endIndex {
                            let end = min(start + pieceRows, rows.endIndex)
                            let text = writer!.rows(rows[start..<end])
                            guard pipe.push(text) else { return false }
                            pieceRows = AnswerPipe.rowsPerPiece(bytes: text.utf8.count, rows: end - start)
                            start = end
                        }
                        return true
                    })
                    pipe.finish(writer.map { .text($0.footer()) })
                } catch {
                    if let w = writer { pipe.finish(.broken(w.footer(error: error))) } else { started.resume(returning: .failure(error)); pipe.finish(nil) }
                }
            }
        }
        switch begin {
        case .success(let header):
            var headers = HTTPFields()
            headers[.contentType] = [.csv: "text/csv; charset=utf-8", .ndjson: "application/x-ndjson", .markdown: "text/markdown; charset=utf-8"][format] ?? "application/json"
            let release = AnswerPipe.ReleaseGuard(pipe)
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { release.pipe.cancel() }  // the reader went away, or the answer is done: stop the query
                try await writer.write(ByteBuffer(string: header))
                for await piece in pipe.pieces {
                    switch piece {
                    case .text(let s):
                        if !s.isEmpty { try await writer.write(ByteBuffer(string: s)) }
                        pipe.consumed()
                    case .broken(let footer):
                        if !footer.isEmpty { try await writer.write(ByteBuffer(string: footer)) }
                        if writerFormat == .jsonDocument || writerFormat == .ndjson { try await writer.finish(nil); return }
                        throw AnswerBrokeOff()  // CSV, Markdown: break the connection rather than end a short answer cleanly
                    }
                }
                // A cancelled response ends the loop too: never close a cut-off answer cleanly.
                try Task.checkCancellation()
                try await writer.finish(nil)
            })
        case .failure(let e):
            var position = ""
            if let offset = e.offset {
                let prefix = Array(sql.utf8.prefix(offset))
                let line = prefix.filter { $0 == 0x0A }.count + 1
                let column = String(decoding: prefix.split(separator: 0x0A, omittingEmptySubsequences: false).last ?? [], as: UTF8.self).count + 1
                position = #","line":\#(line),"column":\#(column)"#
            }
            let status: HTTPResponse.Status = e.kind == .unavailable ? .serviceUnavailable : (e.kind == .limit || e.kind == .execution ? .unprocessableContent : .badRequest)
            return Self.json(status, #"{"error":{"code":"\#(e.kind.rawValue)","message":\#(jsonString(e.message))\#(position)}}"#)
        }
    }

    // MARK: responses

    static func json(_ status: HTTPResponse.Status, _ text: String, retryAfter: Int? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func errorObject(_ e: EventError) -> String {
        "{" + (e.unprocessable ? #""code":"incomplete_create","# : "") + (e.field.map { #""field":\#(jsonString($0)),"# } ?? "")
            + #""message":\#(jsonString(e.message))}"#
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil,
                      retryAfter: Int? = nil) -> Response {
        let f = field.map { #","field":\#(jsonString($0))"# } ?? ""
        return json(status, #"{"error":{"code":\#(jsonString(code)),"message":\#(jsonString(message))\#(f)}}"#, retryAfter: retryAfter)
    }
}

/// An NDJSON bulk body split into events and rejected lines (pure; 1-based line numbers).
public struct BulkBody {
    public var events: [(line: Int, event: TicketEvent)] = []
    public var rejected: [(line: Int, error: EventError)] = []
    /// Set when the body as a whole breaks a limit (then nothing is applied).
    public var problem: String?

    public static func parse(_ body: [UInt8], maxLines: Int, maxLineBytes: Int) -> BulkBody {
        var out = BulkBody()
        var line = 0
        var start = 0
        var count = 0
        while start < body.count {
            var end = start
            while end < body.count && body[end] != 0x0A { end += 1 }
            line += 1
            var stop = end
            if stop > start && body[stop - 1] == 0x0D { stop -= 1 }
            let isBlank = body[start..<stop].allSatisfy { $0 == 0x20 || $0 == 0x09 }
            if !isBlank {
                count += 1
                if count > maxLines {
                    out.problem = "more than \(maxLines) events in one bulk request"
                    return out
                }
                if stop - start > maxLineBytes {
                    out.rejected.append((line, EventError(field: nil, "line of \(stop - start) bytes is over the limit of \(maxLineBytes)")))
                } else {
                    do { out.events.append((line, try EventDecoder.decode(Array(body[start..<stop])))) } catch {
                        out.rejected.append((line, error))
                    }
                }
            }
            start = end + 1
        }
        return out
    }
}

/// A streamed CSV or Markdown answer stopped half-way: the connection is broken on purpose.
struct AnswerBrokeOff: Error {}

/// How many queries run or stream now (a reference, shared with their threads).
final class RunningQueries: Sendable {
    let count = Atomic<Int>(0)
}

/// True for the first caller only.
final class Once: Sendable {
    private let taken = Atomic<Bool>(false)
    func claim() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}

/// A path the API does not have: 404 with a JSON body like every other error (B18).
struct JSONNotFound: RouterMiddleware {
    typealias Context = BasicRequestContext
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError where e.status == .notFound {
            return StrataServer.error(.notFound, "not_found", "no such path: \(request.method.rawValue) \(request.uri.path.prefix(200)) (docs/api.md lists the API)")
        }
    }
}
