import ArgumentParser
import MemoryAllocator
import StrataCore
import SystemSupport

@main
struct Strata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "Tiered storage for help-desk ticket data: Redis hot tier, columnar cold tier, SQL analytics.",
        version: StrataVersion.current,
        subcommands: [ServeCommand.self, CompactCommand.self, QueryCommand.self, ReportCommand.self, ImportCommand.self, CatalogCommand.self,
                      StatusCommand.self, InspectCommand.self, VerifyCommand.self, GenerateCommand.self, LoadCommand.self]
    )

    static func main() async {
        MemoryAllocator.configure()
        await main(Array(SQLArgument.passThrough(CommandLine.arguments.dropFirst())))
    }
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The data directory (cold segments, catalog, managed Redis).")
    var dataDir: String = "./data"
}

/// SQL text given as an argument may start with a comment (`-- weekly report`), which an
/// argument parser takes for an option. No option name holds white space, so an argument
/// that starts with `-` and has white space before any `=` is SQL: it moves behind `--`,
/// where only positional arguments follow.
enum SQLArgument {
    static func passThrough<C: Collection>(_ args: C) -> [String] where C.Element == String {
        var options = [String](), sql = [String]()
        var afterTerminator = false
        for a in args {
            if afterTerminator { sql.append(a); continue }
            if a == "--" { afterTerminator = true; continue }
            if isSQL(a) { sql.append(a) } else { options.append(a) }
        }
        return sql.isEmpty ? options : options + ["--"] + sql
    }

    static func isSQL(_ a: String) -> Bool {
        guard a.hasPrefix("-") else { return false }
        return a.prefix { $0 != "=" }.contains { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
    }
}
