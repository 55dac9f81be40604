import Tiering
import Dispatch
import Hummingbird
import Query
import HotTier
import Logging
import NIOCore
import NIOPosix
import RedisClient
import StrataCore
import Synchronization

/// The HTTP API (docs/api.md): wires the hot tier, auth, limits and metrics to routes.
public final class StrataServer: @unchecked Sendable {
    public let config: ServerConfig
    public let hot: HotTier
    public let tokens: TokenStore?
    public let metrics = ServerMetrics()
    /// The deadlines of request bodies being read: a service the daemon runs (`Daemon`).
    public let bodyDeadlines = BodyDeadlines()
    /// Looks a ticket up in the cold tier when it is not hot (JSON, or nil).
    public let coldLookup: (@Sendable (Int64) throws -> String?)?
    /// Where reopened old tickets are found (nil: no cold tier).
    public var coldSource: (any ColdTicketSource)? = nil {
        didSet { writes = WriteBatcher(hot: hot, cold: coldSource) }
    }
    /// Every event goes through it: concurrent requests' events reach Redis together.
    private(set) var writes: WriteBatcher
    /// A query engine over both tiers, in a time zone (nil: this server answers no queries).
    /// Throws (a `.unavailable` QueryError) when a tier cannot be opened: never half an answer.
    public var queryEngine: (@Sendable (TimeZoneRule) throws(QueryError) -> QueryEngine)? = nil
    /// The hot-ticket cache behind `queryEngine`, for /metrics.
    public var hotCache: HotTicketCache? = nil
    private let inFlight = Atomic<Int>(0)
    /// Queries running or streaming (each holds a thread until its reader has its answer).
    let queriesRunning = RunningQueries()
    public static let maxConcurrentQueries = 16

    /// `tokens` nil means no authentication (`--insecure-no-auth`).
    public init(config: ServerConfig, hot: HotTier, tokens: TokenStore?, coldLookup: (@Sendable (Int64) throws -> String?)? = nil) {
        self.config = config
        self.hot = hot
        self.writes = WriteBatcher(hot: hot, cold: nil)
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
                                body: .init(byteBuffer: ByteBuffer(string: self.metrics.render(pool: self.hot.pool, hotCache: self.hotCache, hotCounts: counts, merged: self.hot.mergedStats, rounds: self.writes.stats))))
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
            metrics.redisUnavailable.increment()
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
        // A race between the body and its deadline, resolved once. The reading task is not
        // waited for when the deadline wins (it cannot be cancelled while the client sends
        // nothing): the 408 closes the connection, which ends it. The deadline is an entry in
        // `bodyDeadlines`, removed as soon as the body is read: a sleeping Task per request
        // held about 6 KB for the whole timeout (300 MB at 5,000 requests/s and 10 s), and an
        // event loop timer woke that loop twice per request.
        let once = Once()
        let reading = CancelSlot()
        let deadlines = bodyDeadlines
        let outcome: Result<[UInt8], any Error>? = await withCheckedContinuation { (done: CheckedContinuation<Result<[UInt8], any Error>?, Never>) in
            let token = deadlines.add(seconds: timeout) {
                if once.claim() {
                    reading.cancel()
                    done.resume(returning: nil)
                }
            }
            reading.set(Task {
                let r: Result<[UInt8], any Error>
                do { r = .success(Array(try await body.collect(upTo: limit).readableBytesView)) } catch { r = .failure(error) }
                deadlines.remove(token)
                if once.claim() { done.resume(returning: r) }
            })
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

/// A streamed CSV or Markdown answer stopped half-way: the connection is broken on purpose.
struct AnswerBrokeOff: Error {}

/// How many queries run or stream now (a reference, shared with their threads).
final class RunningQueries: Sendable {
    let count = Atomic<Int>(0)
}

/// A body's reading task, cancelled if its deadline fires, whether before or after the
/// task is set.
final class CancelSlot: Sendable {
    private let state = Mutex<(cancelled: Bool, task: Task<Void, Never>?)>((false, nil))
    func set(_ task: Task<Void, Never>) {
        let cancelled = state.withLock { s in
            if !s.cancelled { s.task = task }
            return s.cancelled
        }
        if cancelled { task.cancel() }
    }
    func cancel() {
        state.withLock { s in
            s.cancelled = true
            return s.task.take()
        }?.cancel()
    }
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
