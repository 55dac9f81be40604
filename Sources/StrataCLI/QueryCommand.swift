#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Catalog
import ColdStore
import Tiering
import HotTier
import Query
import RedisClient
import StrataCore
import SystemSupport

struct QueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run a SQL query over both tiers (docs/sql.md).",
        discussion: """
        Reads the cold tier of --data-dir and the hot tier of that directory's daemon (its managed \
        Redis socket) or --redis. If the hot tier cannot be reached the query fails rather than \
        answer from half the data; --cold-only asks for the cold tier alone.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The SQL text (or use -f).")
    var sql: String?

    @Option(name: .customShort("f"), help: "Read the SQL from this file.")
    var file: String?

    @Option(help: "Output: table, csv, json, ndjson, markdown.")
    var format: String = "table"

    @OptionGroup var hotTier: HotTierLocation

    @Flag(help: "Answer from the cold tier alone (recent changes are missing).")
    var coldOnly = false

    @Option(help: "Send the query to a running daemon instead (http://IPv4:PORT); the token comes from STRATA_TOKEN.")
    var server: String?

    @Option(help: "Stop the query after this many seconds.")
    var timeout: Double = 300

    @Option(help: "Threads for aggregates and ORDER BY (default: the machine's cores, at most 8).")
    var threads: Int = QueryThreads.default

    @Option(help: "Time zone of day and week boundaries, date parts and shown timestamps (an IANA name).")
    var timeZone = "UTC"

    func run() throws {
        guard let format = ResultFormat(rawValue: format) else {
            throw ValidationError("--format must be one of \(ResultFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var text = sql ?? ""
        if let file {
            guard let bytes = readWholeFile(file) else { throw ValidationError("cannot read \(file)") }
            text = String(decoding: bytes, as: UTF8.self)
        }
        guard !text.isEmpty else { throw ValidationError("give the SQL as an argument or with -f FILE") }
        if let server { return try remote(server, sql: text, format: format) }
        let (source, pool) = try openTiers(dataDir: global.dataDir, hotTier: hotTier, coldOnly: coldOnly)
        defer { pool?.shutdown() }
        var engine = QueryEngine(source: source)
        guard timeout.isFinite && timeout > 0 && timeout <= 86_400 else { throw ValidationError("--timeout must be a number of seconds in (0, 86400], got \(timeout)") }
        engine.timeoutSeconds = timeout
        guard threads >= 1 && threads <= QueryLimits.maxThreads else { throw ValidationError("--threads must be 1...\(QueryLimits.maxThreads)") }
        engine.threads = threads
        engine.timeZone = try zoneRule(timeZone)
        // CSV, NDJSON and Markdown stream to stdout as they come (an export is not bounded by
        // the result-row limit); the table and JSON array need the whole answer first.
        let streamed: [ResultFormat: ResultWriter.Format] = [.csv: .csv, .ndjson: .ndjson, .markdown: .markdown]
        if let wf = streamed[format] {
            var writer: ResultWriter?
            do throws(QueryError) {
                try engine.stream(text, start: { columns in
                    writer = ResultWriter(wf, columns: columns, zone: engine.timeZone)
                    print(writer!.header(), terminator: "")
                }, rows: { rows in
                    print(writer!.rows(rows), terminator: "")
                    return true
                })
                print(writer?.footer() ?? "", terminator: "")
            } catch {
                printErr(error.rendered(sql: text) + (writer != nil ? "\n(the answer above is incomplete)" : ""))
                throw ExitCode(1)
            }
            return
        }
        switch engine.result(text) {
        case .success(let result): print(format.render(result), terminator: "")
        case .failure(let e):
            printErr(e.rendered(sql: text))
            throw ExitCode(1)
        }
    }
}

/// Both tiers of a data directory for the query engine: its catalog and segments, and the
/// hot tier of its daemon (managed Redis socket) or `redis`. Refuses when the hot tier
/// cannot be reached, unless `coldOnly`: never half the data without saying so.
func openTiers(dataDir: String, hotTier: HotTierLocation, coldOnly: Bool) throws -> (TieredTableSource, RedisPool?) {
    let cold = ColdDirectory(dataDirectory: dataDir)
    let coldTier = ColdTier(cold: cold)
    _ = try coldTier.snapshot()  // a catalog or segment that cannot be opened is said before any query
    var pool: RedisPool?
    if !coldOnly {
        let p = try hotTier.pool(dataDir: dataDir)
        let endpoint = p.endpoint
        do { _ = try p.pipelineBlocking([[Array("PING".utf8)]]) } catch {
            printErr("cannot reach the hot tier at \(endpoint) (\(error)): the answer would miss recent changes. Start `strata serve --data-dir \(dataDir)`, pass --redis, or ask for --cold-only.")
            throw ExitCode(1)
        }
        pool = p
    }
    return (TieredTableSource(pool: pool, layout: hotTier.layout, coldTier: coldTier), pool)
}

extension QueryCommand {
    /// `POST /v1/query` to a daemon; its answer printed (a table comes as Markdown). `json`
    /// prints what it prints without `--server`, an array of objects: it is asked for as
    /// NDJSON (the same objects, one per line), since the API's JSON is the typed document.
    func remote(_ url: String, sql: String, format: ResultFormat) throws {
        let (host, port) = try daemonAddress(url)
        let wire = [.table: "markdown", .json: "ndjson"][format] ?? format.rawValue
        var headers = [("Content-Type", "application/json")]
        if let token = getenv("STRATA_TOKEN") { headers.append(("Authorization", "Bearer " + String(cString: token))) }
        var body = "{\"sql\":" + jsonString(sql) + ",\"format\":\"\(wire)\""
        if timeZone != "UTC" { body += ",\"time_zone\":" + jsonString(timeZone) }
        body += "}"
        let client = HTTPClient(host: host, port: port)
        let r = try client.request("POST", "/v1/query", body: Array(body.utf8), headers: headers)
        guard r.status == 200 else {
            let json = try? JSONParser.parse(r.body)
            guard case .string(let message)? = json?["error"]?["message"] else {
                printErr("the server answered \(r.status): \(r.text.prefix(300))")
                throw ExitCode(1)
            }
            var offset: Int?
            if case .integer(let line)? = json?["error"]?["line"], case .integer(let column)? = json?["error"]?["column"] {
                let lines = sql.split(separator: "\n", omittingEmptySubsequences: false)
                if line >= 1 && Int(line) <= lines.count {
                    let before = lines.prefix(Int(line) - 1).reduce(0) { $0 + $1.utf8.count + 1 }
                    offset = before + String(lines[Int(line) - 1].prefix(Int(column) - 1)).utf8.count
                }
            }
            let kind: QueryError.Kind = { if case .string(let k)? = json?["error"]?["code"] { return QueryError.Kind(rawValue: k) ?? .execution }; return .execution }()
            printErr(QueryError(kind, message, offset: offset).rendered(sql: sql))
            throw ExitCode(1)
        }
        guard format == .json else {
            print(r.text, terminator: "")
            return
        }
        var objects = r.body.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
        // An error after the answer started is the last line, `{"error": {"code", "message"}}`
        // (a row's values are never objects, so a column named "error" is not mistaken for it).
        var failure: String? = nil
        if let last = objects.last, let v = try? JSONParser.parse(Array(last.utf8)), case .object(let members) = v, members.count == 1,
           case .string(let message)? = v["error"]?["message"] {
            failure = message
            objects.removeLast()
        }
        print("[" + objects.joined(separator: ",\n") + "]")
        if let failure {
            printErr("the answer stopped halfway: \(failure)")
            throw ExitCode(1)
        }
    }
}

/// `--server http://IPv4:PORT` (or `localhost:PORT`) as a host and port for `HTTPClient`.
func daemonAddress(_ text: String) throws -> (host: String, port: Int) {
    var rest = Substring(text)
    if rest.hasPrefix("http://") { rest = rest.dropFirst(7) }
    while rest.hasSuffix("/") { rest = rest.dropLast() }
    let parts = rest.split(separator: ":")
    guard parts.count == 2, let port = Int(parts[1]), port > 0 && port < 65536,
          parts[0].split(separator: ".").count == 4 || parts[0] == "localhost" else {
        throw ValidationError("--server must be http://IPv4:PORT, got \"\(text.prefix(80))\"")
    }
    return (parts[0] == "localhost" ? "127.0.0.1" : String(parts[0]), port)
}

func zoneRule(_ name: String) throws -> TimeZoneRule {
    guard let rule = TimeZoneRule.named(name) else { throw ValidationError("unknown time zone \(name) (use an IANA name such as Europe/Berlin)") }
    return rule
}
