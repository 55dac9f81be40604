import ArgumentParser
import ColdStore
import SegmentFormat

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every checksum of segment files: the named ones, or every segment in the data directory.",
        discussion: "Exit code 0 when every file is sound, 1 when any is damaged; each bad block is named."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Segment files (default: every segment under --data-dir).")
    var files: [String] = []

    func run() throws {
        var paths = files
        if paths.isEmpty {
            paths = try ColdDirectory(dataDirectory: global.dataDir).allSegments()
            if paths.isEmpty { print("no segments under \(global.dataDir)/cold") }
        }
        var bad = 0
        var rows = 0
        for path in paths {
            do {
                let reader = try openSegment(path)
                let problems = reader.verify()
                if problems.isEmpty {
                    rows += reader.rowCount
                    print("ok    \(path) (\(reader.rowCount) rows, \(reader.footer.rowGroups.count) row groups)")
                } else {
                    bad += 1
                    print("BAD   \(path): \(problems.count) bad block(s)")
                    for p in problems { print("      \(p)") }
                }
            } catch {
                bad += 1
                print("BAD   \(path)")
                print("      \(error)")
            }
        }
        print("\(paths.count - bad) of \(paths.count) segment(s) sound, \(rows) rows checked")
        if bad > 0 { throw ExitCode(1) }
    }
}
