#if canImport(Glibc)
import Glibc
#endif

/// An NDJSON bulk body split into events and rejected lines (pure; 1-based line numbers).
public struct BulkBody {
    /// The events read, in order, and (same index) the line each came from: two arrays, so
    /// that the events go on to the write path as they are, not copied out of pairs.
    public var events: [TicketEvent] = []
    public var lines: [Int] = []
    public var rejected: [(line: Int, error: EventError)] = []
    /// Set when the body as a whole breaks a limit (then nothing is applied).
    public var problem: String?

    public static func parse(_ body: [UInt8], maxLines: Int, maxLineBytes: Int) -> BulkBody {
        body.withUnsafeBufferPointer { parse($0, maxLines: maxLines, maxLineBytes: maxLineBytes) }
    }

    public static func parse(_ body: UnsafeBufferPointer<UInt8>, maxLines: Int, maxLineBytes: Int) -> BulkBody {
        var out = BulkBody()
        var line = 0
        var start = 0
        var count = 0
        while start < body.count {
            // The line's end found by memchr, not byte by byte; a line can be blank only if
            // it starts with a space or a tab (so an event's bytes are not looked at twice).
            let end = memchr(body.baseAddress! + start, 0x0A, body.count - start)
                .map { UnsafeRawPointer(body.baseAddress!).distance(to: $0) } ?? body.count
            line += 1
            var stop = end
            if stop > start && body[stop - 1] == 0x0D { stop -= 1 }
            let isBlank = stop == start || ((body[start] == 0x20 || body[start] == 0x09) && body[start..<stop].allSatisfy { $0 == 0x20 || $0 == 0x09 })
            if !isBlank {
                count += 1
                if count > maxLines {
                    out.problem = "more than \(maxLines) events in one bulk request"
                    return out
                }
                if stop - start > maxLineBytes {
                    out.rejected.append((line, EventError(field: nil, "line of \(stop - start) bytes is over the limit of \(maxLineBytes)")))
                } else {
                    do {
                        out.events.append(try EventDecoder.decode(UnsafeBufferPointer(rebasing: body[start..<stop])))
                        out.lines.append(line)
                    } catch {
                        out.rejected.append((line, error))
                    }
                }
            }
            start = end + 1
        }
        return out
    }
}
