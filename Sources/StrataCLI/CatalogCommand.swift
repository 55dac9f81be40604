import ArgumentParser
import Catalog
import ColdStore
import StrataCore

struct CatalogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Show the catalog: segments (live and retired) and compaction runs."
    )

    @OptionGroup var global: GlobalOptions

    func run() throws {
        let cold = ColdDirectory(dataDirectory: global.dataDir)
        let catalog: Catalog
        do { catalog = try Catalog(path: cold.catalogPath) } catch {
            printErr("cannot open the catalog \(cold.catalogPath): \(error)")
            throw ExitCode(1)
        }
        let segments = try catalog.allSegments()
        func time(_ v: Int64?) -> String { v.map { String(Timestamp.format($0).prefix(16)) } ?? "-" }
        let rows = segments.map { s in
            [String(s.id), s.table, s.state, String(s.rows), String(s.bytes),
             "\(s.minID.map(String.init) ?? "-")..\(s.maxID.map(String.init) ?? "-")",
             "\(time(s.minTime)) .. \(time(s.maxTime))", s.file]
        }
        print("catalog \(cold.catalogPath) (schema version \(catalog.schemaVersion))")
        print("")
        print(segments.isEmpty ? "no segments" : table(["id", "table", "state", "rows", "bytes", "ids", "time range", "file"], rows, rightAligned: [0, 3, 4]))
        let live = segments.filter { $0.state == "live" }
        print("")
        print("\(live.count) live segment(s), \(live.reduce(0) { $0 + $1.rows }) rows, \(live.reduce(0) { $0 + $1.bytes }) bytes")
        let runs = try catalog.db.query("SELECT id, kind, state, step, started_at, finished_at FROM runs ORDER BY id DESC LIMIT 20")
        print(runs.isEmpty ? "no compaction runs yet" : table(["run", "kind", "state", "step", "started", "finished"], runs.map { r in
            [String(r[0].int ?? 0), r[1].string ?? "", r[2].string ?? "", r[3].string ?? "", time(r[4].int), time(r[5].int)]
        }))
        let unsettled = try catalog.unsettledRuns()
        if !unsettled.isEmpty {
            print("")
            print("\(unsettled.count) run(s) done, not yet settled: their selection is kept until a run at least a minute later finds their "
                  + "Redis deletes durable (docs/tiering.md, \"When Redis loses a run's deletes\"): "
                  + unsettled.map { "\($0.run) (\($0.kind))" }.joined(separator: ", "))
        }
    }
}
