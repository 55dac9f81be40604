import Dispatch
import Query
import Synchronization

/// Carries a streamed query answer from the query's thread to the HTTP response body, at
/// most `depth` chunks ahead of the network: the query waits when the reader is slow, and
/// stops when the reader has gone.
final class AnswerPipe: Sendable {
    enum Piece: Sendable {
        case text(String)
        /// The answer broke off after its start: the connection must break too (for CSV and
        /// Markdown, whose footer cannot tell), after `text` for the formats that can.
        case broken(String)
    }

    /// The size a piece aims at: rows are cut into pieces of about this many bytes (a row is
    /// never split), so the pipe holds at most about `depth` times this for a slow reader.
    static let pieceBytes = 64 << 10

    /// The rows of the next piece, from the last one's size: about `pieceBytes`, 1 to 4,096.
    static func rowsPerPiece(bytes: Int, rows: Int) -> Int {
        let perRow = max(1, bytes / max(1, rows))
        return min(4_096, max(1, pieceBytes / perRow))
    }

    let pieces: AsyncStream<Piece>
    private let continuation: AsyncStream<Piece>.Continuation
    private let space: DispatchSemaphore
    private let depth: Int
    private let cancelled = Atomic<Bool>(false)

    init(depth: Int = 8) {
        precondition(depth > 0)
        (pieces, continuation) = AsyncStream.makeStream(of: Piece.self)
        space = DispatchSemaphore(value: depth)
        self.depth = depth
    }

    /// From the query's thread: waits for room; false once the reader has gone.
    func push(_ text: String) -> Bool {
        if cancelled.load(ordering: .acquiring) { return false }
        space.wait()
        if cancelled.load(ordering: .acquiring) {
            space.signal()  // give the room back: the semaphore must not end below its start
            return false
        }
        continuation.yield(.text(text))
        return true
    }

    /// The last piece (never waits), then the end.
    func finish(_ last: Piece?) {
        if let last { continuation.yield(last) }
        continuation.finish()
    }

    /// From the response: a chunk went out, make room for the next.
    func consumed() { space.signal() }

    /// Cancels the pipe when the response body is released, whether or not it ever ran
    /// (a reader gone before the head was written): the query never waits for nobody.
    final class ReleaseGuard: Sendable {
        let pipe: AnswerPipe
        init(_ pipe: AnswerPipe) { self.pipe = pipe }
        deinit { pipe.cancel() }
    }

    /// Whether the reader has gone (the query checks it between batches and inside long work).
    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    /// From the response: the reader has gone (or the body is done); unblocks the query.
    func cancel() {
        guard !cancelled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for _ in 0..<depth { space.signal() }
    }
}
