#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import StrataCore
import SystemSupport
import Workload

struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Send an NDJSON event stream to a running daemon and report throughput and latency.",
        discussion: """
        Bulks of --bulk lines go to POST /v1/events/_bulk (with --bulk 1, each event to POST /v1/events) \
        over --connections keep-alive connections; a 503 is retried after a pause. The token is --token, \
        else $STRATA_TOKEN, else the first token with the write scope in DATA/auth.json. \
        Exit status: 0 when every event was applied or was a duplicate, 1 when any was refused.
          strata generate events --tickets 20000 --out events.ndjson
          strata load events.ndjson --bulk 1000 --connections 4
        """
    )

    @Argument(help: "The NDJSON file of events, or - for standard input.")
    var file: String

    @OptionGroup var global: GlobalOptions

    @Option(help: "The daemon, http://HOST:PORT (IPv4).")
    var server = "http://127.0.0.1:8080"

    @Option(help: "Bearer token (default: $STRATA_TOKEN, else DATA/auth.json).")
    var token: String?

    @Option(help: "Events per request (1 sends each alone to POST /v1/events).")
    var bulk = 1000

    @Option(help: "Connections (one thread each).")
    var connections = 4

    @Option(help: "Target rate, events per second (default: as fast as the daemon answers).")
    var rate: Double?

    @Option(help: "Seconds between progress lines on standard error (0: none).")
    var progress: Double = 1

    @Option(help: "Retries of a request answered 503 before it counts as refused.")
    var maxRetries = 100

    func run() throws {
        guard progress.isFinite && progress >= 0 && progress <= 3600 else { throw ValidationError("--progress must be 0...3600 seconds") }
        var s = LoadRunner.Settings()
        (s.host, s.port) = try daemonAddress(server)
        s.bulk = bulk
        s.connections = connections
        s.rate = rate
        s.maxRetries = maxRetries
        s.token = try token ?? getenv("STRATA_TOKEN").map { String(cString: $0) } ?? tokenFromDataDir()
        do { try LoadRunner.check(s) } catch let e as WorkloadError { throw ValidationError(e.description) }
        let bytes: [UInt8]
        guard let b = readWholeFile(file == "-" ? "/dev/stdin" : file) else { throw ValidationError("cannot read \(file)") }
        bytes = b
        let lines = LoadRunner.requests(bytes, bulk: 1).count
        printErr("strata load: \(lines) events from \(file) to \(server), bulks of \(bulk), \(connections) connection(s)" + (rate.map { ", \(Int($0)) events/s offered" } ?? ""))
        let every = progress
        let report = try LoadRunner(s).run(bytes, progress: every == 0 ? nil : ProgressPrinter(every: every).callAsFunction)
        print(Self.summary(report, bulk: bulk, connections: connections))
        if report.refused > 0 { throw ExitCode(1) }
    }

    static func summary(_ r: LoadRunner.Report, bulk: Int, connections: Int) -> String {
        func ms(_ v: Double) -> String { String(format2: v) + " ms" }
        let rate = r.seconds > 0 ? Double(r.events) / r.seconds : 0
        var lines = [
            "events       \(r.events) in \(r.requests) request(s) of up to \(bulk), \(connections) connection(s), \(String(format2: r.seconds)) s",
            "throughput   \(Int(rate)) events/s, \(String(format2: r.seconds > 0 ? Double(r.requests) / r.seconds : 0)) requests/s",
            "outcome      applied \(r.applied), duplicates \(r.duplicates), refused \(r.refused), retried (503) \(r.retries)",
            "latency      per request: p50 \(ms(r.percentile(0.5))), p99 \(ms(r.percentile(0.99))), p999 \(ms(r.percentile(0.999))), max \(ms(r.latenciesMs.last ?? 0))",
            "client CPU   \(String(format2: r.events > 0 ? r.cpuSeconds * 1e6 / Double(r.events) : 0)) µs per event",
        ]
        if let e = r.firstError { lines.append("first refusal  \(e)") }
        return lines.joined(separator: "\n")
    }

    /// The first token with the write scope in DATA/auth.json, if there is such a file.
    func tokenFromDataDir() throws -> String? {
        let path = global.dataDir + "/auth.json"
        guard let bytes = readWholeFile(path) else { return nil }
        guard case .array(let tokens)? = (try? JSONParser.parse(bytes))?["tokens"] else { throw ValidationError("\(path) has no \"tokens\" array") }
        for t in tokens {
            guard case .string(let value)? = t["token"], case .array(let scopes)? = t["scopes"] else { continue }
            if scopes.contains(.string("write")) { return value }
        }
        return nil
    }
}

/// Prints a progress line at most every `every` seconds.
final class ProgressPrinter: @unchecked Sendable {
    let every: Double
    var last = 0.0
    var lastEvents = 0
    init(every: Double) { self.every = every }

    func callAsFunction(_ r: LoadRunner.Report) {
        guard r.seconds - last >= every else { return }
        let rate = Double(r.events - lastEvents) / max(0.001, r.seconds - last)
        last = r.seconds
        lastEvents = r.events
        printErr("  \(String(format2: r.seconds)) s  \(r.events) events  \(Int(rate)) events/s  p99 \(String(format2: r.percentile(0.99))) ms  refused \(r.refused)")
    }
}
