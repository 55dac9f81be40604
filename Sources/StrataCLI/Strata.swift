import ArgumentParser
import SystemSupport

@main
struct Strata: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "Tiered storage for help-desk ticket data: Redis hot tier, columnar cold tier, SQL analytics.",
        version: "0.1.0",
        subcommands: [ServeCommand.self, CompactCommand.self, QueryCommand.self, ReportCommand.self, ImportCommand.self, CatalogCommand.self, InspectCommand.self, VerifyCommand.self]
    )

    static func main() async {
        ProcessMemory.keepFreedMemory()
        await main(nil)
    }
}

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The data directory (cold segments, catalog, managed Redis).")
    var dataDir: String = "./data"
}
