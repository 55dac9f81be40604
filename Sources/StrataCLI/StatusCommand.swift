#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Catalog
import ColdStore
import Compactor
import HotTier
import StrataCore

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what each tier holds: hot tickets (and incomplete ones, which SQL leaves out), cold segments, whether a compaction runs now, the last run.",
        discussion: """
        A hot ticket is incomplete while it lacks a required column: patches arrived before its \
        create. SQL leaves it out until the create arrives (docs/sql.md, "Incomplete tickets").
        """
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var hotTier: HotTierLocation

    @Option(help: "List up to this many incomplete ticket ids.")
    var list = 20

    func run() async throws {
        guard list >= 0 && list <= 100_000 else { throw ValidationError("--list must be 0...100000") }
        let pool = try hotTier.pool(dataDir: global.dataDir)
        defer { pool.shutdown() }
        var options = HotTierOptions()
        options.layout = hotTier.layout
        let hot = HotTier(pool: pool, options: options)
        do {
            let counts = try await hot.counts()
            print("hot tier    \(pool.endpoint): \(counts.tickets) ticket(s), \(counts.incomplete) incomplete (patches whose create has not arrived; not shown by SQL)")
            if counts.incomplete > 0 && list > 0 {
                let ids = try await hot.incompleteIDs(limit: list)
                print("incomplete  " + ids.map(String.init).joined(separator: " ") + (counts.incomplete > ids.count ? " …" : ""))
            }
        } catch {
            print("hot tier    \(pool.endpoint): cannot be reached (\(error))")
        }
        // The compactor's lease: held while a run lasts, renewed every third of its term.
        let key = Compactor.leaseKey(hotTier.layout)
        if let left = (try? await pool.pipeline([["PTTL", key].map { Array($0.utf8) }]))?.first?.int {
            // PTTL: -2 when the key is absent, -1 when it has no expiry (a runner's lease always has one).
            print(left == -2 ? "compaction  none running (nobody holds the lease \(key))"
                  : "compaction  running now (the lease \(key) is held" + (left >= 0 ? "; it expires in \(left) ms unless its run renews it)" : ", without an expiry)"))
        }
        let cold = ColdDirectory(dataDirectory: global.dataDir)
        guard access(cold.catalogPath, F_OK) == 0 else {
            print("cold tier   no catalog yet (\(cold.catalogPath)): nothing compacted or imported")
            return
        }
        let catalog = try Catalog(path: cold.catalogPath)
        let live = try catalog.allSegments().filter { $0.state == "live" }
        for table in [Tables.tickets.name, Tables.ticketEvents.name, Tables.ticketMetrics.name] {
            let segs = live.filter { $0.table == table }
            print("cold tier   \(table): \(segs.count) live segment(s), \(segs.reduce(0) { $0 + $1.rows }) rows")
        }
        let runs = try catalog.db.query("SELECT id, kind, state, finished_at FROM runs ORDER BY id DESC LIMIT 1")
        if let r = runs.first {
            print("last run    \(r[0].int ?? 0) \(r[1].string ?? "") \(r[2].string ?? "")" + (r[3].int.map { " at " + Timestamp.format($0) } ?? ""))
        } else {
            print("last run    none yet")
        }
        let unfinished = try catalog.unfinishedRuns()
        if !unfinished.isEmpty {
            print("unfinished  \(unfinished.map { "run \($0.id) (\($0.kind), at \($0.step))" }.joined(separator: ", ")): "
                  + "under way, or left by a run that stopped; a daemon's watch finishes it once the lease is free, or the next run does")
        }
    }
}
