#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import SystemSupport
import StrataCore

/// Sends an NDJSON event stream to a daemon, as a ticket service would: bulks of N lines
/// (`POST /v1/events/_bulk`, or `POST /v1/events` one at a time when N is 1) over C
/// keep-alive connections, optionally paced to a target rate, retrying 503s. Reports
/// what pgbench and redis-benchmark report: throughput, outcomes, latency percentiles.
public struct LoadRunner: Sendable {
    public struct Settings: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        public var token: String?
        /// Lines per request (1...10,000).
        public var bulk = 1000
        /// Connections, each on its own thread (1...256).
        public var connections = 4
        /// Events per second to offer (nil: as fast as answers come).
        public var rate: Double?
        /// Retries of one request answered 503 before it counts as failed.
        public var maxRetries = 100
        public init() {}
    }

    /// Counts so far (also what the progress line shows).
    public struct Report: Sendable {
        public var requests = 0
        public var events = 0
        public var applied = 0
        public var duplicates = 0
        /// Lines the daemon refused (with a reason in its answer), or whole requests it refused.
        public var refused = 0
        public var retries = 0
        public var seconds = 0.0
        /// Per-request latency (send to whole answer), milliseconds, sorted.
        public var latenciesMs: [Double] = []
        /// The first refusal the daemon gave, for the summary.
        public var firstError: String?
        /// CPU seconds this process used (user + system).
        public var cpuSeconds = 0.0

        public func percentile(_ p: Double) -> Double {
            guard !latenciesMs.isEmpty else { return 0 }
            let i = min(latenciesMs.count - 1, Int((p * Double(latenciesMs.count)).rounded(.up)) - 1)
            return latenciesMs[max(0, i)]
        }
    }

    public let settings: Settings
    public init(_ settings: Settings) { self.settings = settings }

    public static func check(_ s: Settings) throws {
        guard s.bulk >= 1 && s.bulk <= 10_000 else { throw WorkloadError("--bulk must be 1...10000 (the daemon's bulk limit), got \(s.bulk)") }
        guard s.connections >= 1 && s.connections <= 256 else { throw WorkloadError("--connections must be 1...256, got \(s.connections)") }
        if let r = s.rate { guard r.isFinite && r > 0 && r <= 10_000_000 else { throw WorkloadError("--rate must be a number of events per second in (0, 10000000]") } }
        guard s.maxRetries >= 0 && s.maxRetries <= 10_000 else { throw WorkloadError("--max-retries must be 0...10000") }
    }

    /// Splits NDJSON into requests of `bulk` non-empty lines: byte ranges into `bytes`.
    public static func requests(_ bytes: [UInt8], bulk: Int) -> [(range: Range<Int>, lines: Int)] {
        var out = [(range: Range<Int>, lines: Int)]()
        var start = 0, lines = 0, i = 0, requestStart = 0
        let n = bytes.count
        while i <= n {
            if i == n || bytes[i] == 10 {
                if i > start { lines += 1 }
                if lines == bulk || (i == n && lines > 0) {
                    out.append((requestStart..<min(i, n), lines))
                    requestStart = i + 1
                    lines = 0
                }
                start = i + 1
            }
            i += 1
        }
        return out
    }

    /// Sends every request; `progress` is called about once a second from a watcher thread.
    public func run(_ bytes: [UInt8], progress: (@Sendable (Report) -> Void)? = nil) throws -> Report {
        try Self.check(settings)
        let requests = Self.requests(bytes, bulk: settings.bulk)
        let state = Mutex(Report())
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let settings = self.settings
        let started = monotonicSeconds()
        let cpuStarted = processCPUSeconds()
        nonisolated(unsafe) let body = bytes
        let path = settings.bulk == 1 ? "/v1/events" : "/v1/events/_bulk"
        var headers = [("Content-Type", "application/x-ndjson")]
        if let t = settings.token { headers.append(("Authorization", "Bearer \(t)")) }
        let fixedHeaders = headers
        let workers = min(settings.connections, max(1, requests.count))
        let finished = DispatchGroup()
        for _ in 0..<workers {
            finished.enter()
            OSThread.detach {
                defer { done.add(1, ordering: .relaxed); finished.leave() }
                let client = HTTPClient(host: settings.host, port: settings.port)
                var local = Report()
                var eventsSent = 0
                while true {
                    let k = next.add(1, ordering: .relaxed).oldValue
                    guard k < requests.count else { break }
                    let (range, lines) = requests[k]
                    if let rate = settings.rate {
                        // Open loop: request k is due when the events before it would have been sent at the rate.
                        let due = started + Double(k * settings.bulk) / rate
                        let wait = due - monotonicSeconds()
                        if wait > 0 { usleep(UInt32(min(wait, 10) * 1e6)) }
                    }
                    let payload = Array(body[range])
                    var tries = 0
                    while true {
                        let t0 = monotonicSeconds()
                        let outcome: Outcome
                        do {
                            let r = try client.request("POST", path, body: payload, headers: fixedHeaders)
                            outcome = Outcome(r, lines: lines)
                        } catch {
                            outcome = .failed("\(error)")
                        }
                        if case .busy = outcome, tries < settings.maxRetries {
                            tries += 1
                            local.retries += 1
                            usleep(UInt32(min(50_000 * tries, 1_000_000)))
                            continue
                        }
                        local.latenciesMs.append((monotonicSeconds() - t0) * 1000)
                        local.requests += 1
                        local.events += lines
                        eventsSent += lines
                        switch outcome {
                        case .counted(let a, let d, let r, let message):
                            local.applied += a
                            local.duplicates += d
                            local.refused += r
                            if local.firstError == nil, let message { local.firstError = message }
                        case .busy: local.refused += lines; local.firstError = local.firstError ?? "still 503 after \(tries) retries"
                        case .failed(let m): local.refused += lines; local.firstError = local.firstError ?? m
                        }
                        break
                    }
                    if local.requests % 16 == 0 { state.withLock { $0.merge(&local) } }
                }
                state.withLock { $0.merge(&local) }
            }
        }
        if let progress {
            while done.load(ordering: .relaxed) < workers {
                for _ in 0..<20 where done.load(ordering: .relaxed) < workers { usleep(50_000) }
                guard done.load(ordering: .relaxed) < workers else { break }
                var snapshot = state.withLock { $0 }
                snapshot.seconds = monotonicSeconds() - started
                snapshot.latenciesMs.sort()
                progress(snapshot)
            }
        }
        finished.wait()
        var report = state.withLock { $0 }
        report.seconds = monotonicSeconds() - started
        report.cpuSeconds = processCPUSeconds() - cpuStarted
        report.latenciesMs.sort()
        return report
    }

    enum Outcome {
        case counted(applied: Int, duplicates: Int, refused: Int, message: String?)
        case busy
        case failed(String)

        init(_ r: HTTPClient.Response, lines: Int) {
            switch r.status {
            case 200:
                if lines == 1 && !r.text.hasPrefix(#"{"applied""#) {
                    self = r.text.contains(#""duplicate""#) ? .counted(applied: 0, duplicates: 1, refused: 0, message: nil)
                        : .counted(applied: 1, duplicates: 0, refused: 0, message: nil)
                    return
                }
                let a = Self.number("applied", in: r.body) ?? 0, d = Self.number("duplicates", in: r.body) ?? 0
                let x = Self.number("rejected", in: r.body) ?? max(0, lines - a - d)
                self = .counted(applied: a, duplicates: d, refused: x, message: x > 0 ? Self.firstRejection(r.text) : nil)
            case 503: self = .busy
            default: self = .counted(applied: 0, duplicates: 0, refused: lines, message: "HTTP \(r.status): \(r.text.prefix(300))")
            }
        }

        /// `"key":N` in the first 200 bytes of the answer (the counts lead the bulk answer).
        static func number(_ key: String, in body: [UInt8]) -> Int? {
            let head = String(decoding: body.prefix(200), as: UTF8.self)
            guard let r = head.firstRange(of: "\"\(key)\":") else { return nil }
            return Int(head[r.upperBound...].prefix { $0.isNumber })
        }

        static func firstRejection(_ text: String) -> String? {
            guard let r = text.firstRange(of: #""status":"rejected""#) else { return nil }
            return String(text[r.lowerBound...].prefix(300))
        }
    }
}

extension LoadRunner.Report {
    mutating func merge(_ o: inout LoadRunner.Report) {
        requests += o.requests
        events += o.events
        applied += o.applied
        duplicates += o.duplicates
        refused += o.refused
        retries += o.retries
        latenciesMs += o.latenciesMs
        if firstError == nil { firstError = o.firstError }
        o = LoadRunner.Report()
    }
}

/// User + system CPU time of this process, seconds.
public func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}
