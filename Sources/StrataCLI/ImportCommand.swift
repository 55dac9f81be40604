import ArgumentParser
import ColdStore
import Ingest
import StrataCore
import Catalog
import SystemSupport

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load ticket exports (CSV or NDJSON, as strata generate snapshot writes them) into the cold tier.",
        discussion: """
        Every row is checked against the tickets schema. If any row is bad, the errors are \
        listed with their file and line and nothing is imported.
        """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Rows per segment file.")
    var segmentRows: Int = 16 * 65_536

    @Option(help: "Rows per row group.")
    var rowGroupSize: Int = 65_536

    @Argument(help: "Files to import (.csv, .ndjson or .jsonl).")
    var files: [String]

    func validate() throws {
        guard rowGroupSize > 0 && rowGroupSize <= 1 << 24 else { throw ValidationError("--row-group-size must be between 1 and 16777216") }
        guard segmentRows >= rowGroupSize else { throw ValidationError("--segment-rows must be at least --row-group-size") }
        guard !files.isEmpty else { throw ValidationError("name at least one file to import") }
    }

    func run() throws {
        let cold = ColdDirectory(dataDirectory: global.dataDir)
        _ = try ChildProcess.run("/bin/mkdir", ["-p", global.dataDir])
        let catalog: Catalog
        do { catalog = try Catalog(path: cold.catalogPath) } catch {
            printErr("cannot open the catalog: \(error)")
            throw ExitCode(1)
        }
        let importer = TicketImporter(cold: cold, catalog: catalog, segmentRows: segmentRows, rowGroupSize: rowGroupSize)
        let started = Clock.now
        let summary: ImportSummary
        do {
            summary = try importer.run(files: files) { rows in
                printErr("… \(rows) rows")
            }
        } catch {
            printErr("import failed:\n\(error)")
            throw ExitCode(1)
        }
        let seconds = started.secondsSince
        print("imported \(summary.rows) rows from \(summary.files) file(s) into \(summary.segments.count) segment(s), \(summary.bytes) bytes (\(String(format2: Double(summary.bytes) / Double(max(summary.rows, 1)))) bytes/row) in \(String(format2: seconds)) s")
        for s in summary.segments { print("  \(s)") }
    }
}
