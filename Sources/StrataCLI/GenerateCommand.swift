import ArgumentParser
import StrataCore
import SystemSupport
import Workload

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Make the help-desk workload: ticket exports, or the write stream with its final states (docs/workload.md).",
        discussion: """
        Same options and seed give the same bytes, on any number of threads.
          strata generate snapshot --rows 1000000 --format csv --out tickets.csv
          strata generate events --tickets 100000 --out events.ndjson --expect final.ndjson --shuffle 0.05 --dup 0.01
        """,
        subcommands: [Snapshot.self, Events.self]
    )

    struct Common: ParsableArguments {
        @Option(help: "Random seed.")
        var seed: UInt64 = 42

        @Option(help: "Length of the creation window, in days.")
        var days = 90

        @Option(help: "End of the window, RFC 3339 (no event at or after it).")
        var end = "2026-11-01T00:00:00Z"

        @Flag(help: "Subjects and tags follow the queue; the queue's team answers most of its tickets, faster and better.")
        var routing = false

        @Option(help: "Worker threads (the output does not depend on it).")
        var threads = QueryThreads.default

        @Option(help: "Where to write (- for standard output).")
        var out = "-"

        func options() throws -> WorkloadOptions {
            var o = WorkloadOptions()
            o.seed = seed
            o.days = days
            guard let endMs = Timestamp.parse(end) else { throw ValidationError("--end must be an RFC 3339 time such as 2026-11-01T00:00:00Z, got \"\(end.prefix(40))\"") }
            o.endMs = endMs
            o.routing = routing
            o.threads = threads
            return o
        }
    }

    struct Snapshot: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Tickets in their final state, one row each (ids 1...rows).")

        @OptionGroup var common: Common

        @Option(help: "How many tickets.")
        var rows: Int

        @Option(help: "csv or ndjson.")
        var format = "ndjson"

        func run() throws {
            guard let f = SnapshotFormat(rawValue: format) else { throw ValidationError("--format must be csv or ndjson, got \(format)") }
            do {
                let started = Clock.now
                try Generator.writeSnapshot(rows: rows, format: f, options: try common.options(), to: common.out)
                if common.out != "-" { printErr("wrote \(rows) tickets to \(common.out) in \(String(format2: started.secondsSince)) s") }
            } catch let e as WorkloadError {
                printErr("strata generate snapshot: \(e)")
                throw ExitCode(1)
            }
        }
    }

    struct Events: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The write stream of a ticket service (creates and patches with version vectors), in delivery order.")

        @OptionGroup var common: Common

        @Option(help: "How many tickets (ids 1...tickets).")
        var tickets: Int

        @Option(help: "Also write the converged final state of every ticket here (NDJSON).")
        var expect: String?

        @Option(help: "Fraction of events delivered late (up to 200 places).")
        var shuffle = 0.0

        @Option(help: "Fraction of events delivered twice.")
        var dup = 0.0

        @Option(help: "Chance that a customer or admin step is concurrent with the one before (incomparable vectors).")
        var concurrent = 0.05

        func run() throws {
            var d = DeliveryOptions()
            d.shuffle = shuffle
            d.dup = dup
            d.concurrent = concurrent
            guard expect == nil || expect != common.out || common.out == "-" else { throw ValidationError("--expect and --out must be different files") }
            guard expect != "-" || common.out != "-" else { throw ValidationError("--expect and --out cannot both be standard output") }
            do {
                let started = Clock.now
                let c = try Generator.writeEvents(tickets: tickets, options: try common.options(), delivery: d, to: common.out, expect: expect)
                if common.out != "-" {
                    printErr("wrote \(c.events) events (\(c.duplicates) repeated) of \(c.tickets) tickets to \(common.out) in \(String(format2: started.secondsSince)) s")
                }
            } catch let e as WorkloadError {
                printErr("strata generate events: \(e)")
                throw ExitCode(1)
            }
        }
    }
}
