import Dispatch
import Synchronization
import Testing
@testable import Server

@Suite struct BodyDeadlinesTests {
    final class Fired: Sendable {
        let names = Mutex<[String]>([])
        func callback(_ name: String) -> @Sendable () -> Void { { self.names.withLock { $0.append(name) } } }
        var all: [String] { names.withLock { $0.sorted() } }
    }

    /// A deadline fires once, at the first sweep at or after it; one removed never fires.
    @Test func firesWhenDueAndNotWhenRemoved() {
        let deadlines = BodyDeadlines(sweepMilliseconds: 50)
        let fired = Fired()
        let start = DispatchTime.now().uptimeNanoseconds
        _ = deadlines.add(seconds: 1, fire: fired.callback("one"))
        _ = deadlines.add(seconds: 5, fire: fired.callback("five"))
        let removed = deadlines.add(seconds: 1, fire: fired.callback("removed"))
        deadlines.remove(removed)
        #expect(deadlines.count == 2)
        deadlines.sweep(now: start)
        #expect(fired.all.isEmpty)
        deadlines.sweep(now: start + 2_000_000_000)
        #expect(fired.all == ["one"])
        deadlines.sweep(now: start + 3_000_000_000)
        #expect(fired.all == ["one"])  // not twice
        deadlines.sweep(now: .max)
        #expect(fired.all == ["five", "one"])
        #expect(deadlines.count == 0)
    }

    /// Run as a service, it sweeps by itself, and fires what is left when it ends.
    @Test func runsAsAService() async throws {
        let deadlines = BodyDeadlines(sweepMilliseconds: 20)
        let fired = Fired()
        _ = deadlines.add(seconds: 0, fire: fired.callback("now"))
        _ = deadlines.add(seconds: 3600, fire: fired.callback("later"))
        let service = Task { try await deadlines.run() }
        for _ in 0..<100 where fired.all.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(fired.all == ["now"])
        service.cancel()
        try await service.value
        #expect(fired.all == ["later", "now"])
    }
}
