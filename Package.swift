// swift-tools-version:6.2
// Strata: a tiered storage daemon for help-desk ticket data.
// Targets are split by stage; dependencies point one way (see docs/architecture.md).
import PackageDescription

let package = Package(
    name: "Strata",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "strata", targets: ["StrataCLI"]),
        .executable(name: "strata-fuzz", targets: ["StrataFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // System libraries from Debian (pkg-config).
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CJemalloc", pkgConfig: "jemalloc", providers: [.apt(["libjemalloc-dev"])]),
        // CRC32C (Castagnoli) with the SSE4.2 instruction where the CPU has it.
        .target(name: "CCRC32C"),
        .target(name: "CSHA1"),

        // Child processes (posix_spawn with a clean signal mask) and other OS helpers.
        .target(name: "SystemSupport", dependencies: ["StrataCore"]),
        // jemalloc for the executables that depend on it (the strata command, and benchmarks
        // that run its code in-process); libraries and tests keep glibc's malloc.
        .target(name: "MemoryAllocator", dependencies: ["CJemalloc"]),
        // Core types: the schema declared once, timestamps, checksums, JSON.
        .target(name: "StrataCore", dependencies: ["CCRC32C", "CSHA1"]),
        // The segment file format: pure bytes in, bytes out.
        .target(name: "SegmentFormat", dependencies: ["StrataCore", "CLZ4"]),
        // Segment files on disk: atomic writes, positioned reads, verification.
        .target(name: "ColdStore", dependencies: ["StrataCore", "SegmentFormat"]),
        // Redis over hiredis: RESP replies, blocking connections, a pool used from async code.
        .target(name: "RedisClient", dependencies: ["CHiredis", "SystemSupport"]),
        // The hot tier: key layout, the merge script, change logs, metrics.
        .target(name: "HotTier", dependencies: ["StrataCore", "RedisClient"]),
        // The HTTP API and the daemon (`strata serve`).
        .target(
            name: "Server",
            dependencies: [
                "StrataCore", "HotTier", "RedisClient", "SystemSupport", "Catalog", "ColdStore", "Compactor", "Tiering", "Query",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The catalog of segments and compaction runs (SQLite, WAL).
        .target(name: "Catalog", dependencies: ["CSQLite"]),
        // The SQL engine: lexer/parser → binder → execution over a TableSource (no I/O of its own).
        .target(name: "Query", dependencies: ["StrataCore"]),
        // The read rule: both tiers read as one, each ticket exactly once (queries, GET, reopen).
        .target(name: "Tiering", dependencies: ["StrataCore", "SegmentFormat", "ColdStore", "Catalog", "HotTier", "RedisClient", "Query", "SystemSupport"]),
        // The report pack: figures as SQL, rendered as CSV files and one HTML page.
        .target(name: "Reports", dependencies: ["Query", "StrataCore"]),
        // The compactor: aged tickets move from Redis to segments, a saga of recorded steps.
        .target(name: "Compactor", dependencies: ["StrataCore", "SegmentFormat", "ColdStore", "Catalog", "HotTier", "RedisClient", "Tiering", "SystemSupport"]),
        // The help-desk workload: generated tickets and event streams, and replaying them against a daemon.
        .target(name: "Workload", dependencies: ["StrataCore", "SystemSupport"]),
        // Loading tickets from CSV / NDJSON exports into the cold tier.
        .target(name: "Ingest", dependencies: ["StrataCore", "SegmentFormat", "ColdStore", "Catalog"]),
        // What tests and benchmarks share, and production never links: throwaway Redis servers
        // and clusters, the daemon harness, ports, temporary directories, the generated stream
        // and its expected state, seeds.
        .target(name: "StrataTesting", dependencies: ["StrataCore", "HotTier", "RedisClient", "SystemSupport", "Workload"]),
        // The `strata` command.
        .executableTarget(
            name: "StrataCLI",
            dependencies: [
                "StrataCore", "SegmentFormat", "ColdStore", "Ingest", "Server", "HotTier", "RedisClient", "Catalog", "SystemSupport", "Compactor", "Tiering", "Query", "Reports", "Workload",
                "MemoryAllocator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Benchmarks print figures; they are not tests.
        .executableTarget(
            name: "SegmentBench",
            dependencies: ["StrataTesting", "Workload", "StrataCore", "SegmentFormat", "ColdStore", "Ingest", "SystemSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/SegmentBench"
        ),

        .executableTarget(
            name: "WriteBench",
            dependencies: ["StrataTesting", "Workload", "StrataCore", "HotTier", "RedisClient", "SystemSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/WriteBench"
        ),

        .executableTarget(
            name: "CompactBench",
            // jemalloc, as `strata compact` runs with it (`MemoryAllocator`).
            dependencies: ["StrataTesting", "Workload", "StrataCore", "HotTier", "RedisClient", "SystemSupport", "Compactor", "Catalog", "ColdStore", "Ingest", "MemoryAllocator", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/CompactBench"
        ),

        .executableTarget(
            name: "QueryBench",
            dependencies: ["StrataTesting", "Workload", "StrataCore", "Query", "Compactor", "Tiering", "Catalog", "ColdStore", "HotTier", "Ingest", "RedisClient", "SystemSupport", "MemoryAllocator", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/QueryBench",
            exclude: ["duckdb_bench.py", "sqlite_bench.py"]
        ),

        .executableTarget(
            name: "ClusterBench",
            dependencies: ["StrataTesting", "Workload", "StrataCore", "HotTier", "RedisClient", "SystemSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/ClusterBench"
        ),

        // The fuzz targets: each parser of outside input as a check over bytes (docs/fuzzing.md),
        // run by libFuzzer (`scripts/fuzz`) and replayed from the committed corpus by the tests.
        .target(name: "FuzzTargets", dependencies: ["Query", "HotTier", "RedisClient", "SegmentFormat", "StrataCore", "SystemSupport"]),
        .executableTarget(name: "StrataFuzz", dependencies: ["FuzzTargets"]),

        .testTarget(name: "StrataCoreTests", dependencies: ["StrataTesting", "StrataCore", "SystemSupport"]),
        .testTarget(name: "SegmentFormatTests", dependencies: ["StrataTesting", "StrataCore", "SegmentFormat", "SystemSupport"]),
        .testTarget(name: "ColdStoreTests", dependencies: ["StrataTesting", "StrataCore", "SegmentFormat", "ColdStore", "SystemSupport"]),
        .testTarget(name: "IngestTests", dependencies: ["StrataTesting", "Workload", "StrataCore", "SegmentFormat", "ColdStore", "Ingest", "SystemSupport"]),
        .testTarget(name: "RedisClientTests", dependencies: ["StrataTesting", "RedisClient", "CHiredis", "SystemSupport"]),
        .testTarget(name: "HotTierTests", dependencies: ["StrataTesting", "Workload", "HotTier", "RedisClient", "StrataCore", "SystemSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["StrataTesting", "Workload", "Server", "HotTier", "RedisClient", "StrataCore", "SystemSupport"]),
        .testTarget(name: "CatalogTests", dependencies: ["StrataTesting", "Catalog", "SystemSupport"]),
        .testTarget(name: "TieringTests", dependencies: ["StrataTesting", "Tiering", "StrataCore"]),
        .testTarget(name: "CompactorTests", dependencies: ["StrataTesting", "Workload", "Compactor", "Tiering", "Query", "Catalog", "ColdStore", "Ingest", "SegmentFormat", "HotTier", "RedisClient", "StrataCore", "SystemSupport"]),
        .testTarget(name: "QueryTests", dependencies: ["StrataTesting", "Workload", "Query", "Reports", "Compactor", "Tiering", "Catalog", "ColdStore", "HotTier", "Ingest", "RedisClient", "StrataCore", "SystemSupport"],
                    exclude: ["duckdb_oracle.py", "sqltest_duckdb.py", "sql"]),
        .testTarget(name: "WorkloadTests", dependencies: ["StrataTesting", "Workload", "HotTier", "StrataCore", "SystemSupport"]),
        .testTarget(name: "FuzzTargetsTests", dependencies: ["StrataTesting", "FuzzTargets", "Query", "HotTier", "StrataCore", "SystemSupport"], exclude: ["corpus"]),
        .testTarget(name: "CLITests", dependencies: ["StrataTesting", "StrataCore", "SegmentFormat", "ColdStore", "SystemSupport"]),
    ]
)
