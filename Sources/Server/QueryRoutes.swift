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

/// `POST /v1/query`: a query streamed to its reader (docs/api.md, "Query answers stream").
extension StrataServer {
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
}
