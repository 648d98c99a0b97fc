// swift-tools-version: 6.0
import PackageDescription

let libfuse = "/opt/epochfs/libfuse"

let package = Package(
    name: "EpochFS",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "epochfs", targets: ["epochfs"]),
        // For the fuzz targets in Fuzz/, a package of their own that depends on this one.
        .library(name: "Ingest", targets: ["Ingest"]),
        .library(name: "SSHKeys", targets: ["SSHKeys"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // libfuse3: the shim header and thin wrappers for what Swift cannot import.
        // libfuse 3.17, built by scripts/build-libfuse.sh (Debian 12 ships 3.14); linked by
        // path with an rpath, so the system's libfuse3 can stay installed beside it.
        .target(
            name: "CFuse",
            cSettings: [.unsafeFlags(["-I\(libfuse)/include"])],
            linkerSettings: [.unsafeFlags(["\(libfuse)/lib/libfuse3.so.4", "-Xlinker", "-rpath", "-Xlinker", "\(libfuse)/lib"])]
        ),
        // Linux system calls glibc hides without _GNU_SOURCE.
        .target(name: "CLinux"),
        // SQLite as shipped by the platform.
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),

        // What every layer speaks: inode numbers, times, zones, and the system-call funnel
        // (Sys: retried on EINTR, errors thrown). No SQL, no FUSE.
        .target(name: "EpochCore", dependencies: ["CLinux"]),
        // A connection to one SQLite database: prepared statements cached, transactions, errors
        // with their codes. Knows no schema; the metadata store and the web console's accounts
        // each keep their own behind it.
        .target(name: "SQLiteDatabase", dependencies: ["EpochCore", "CSQLite"]),
        // Metadata (SQLite) and the content-addressed blob store. No FUSE. Re-exports EpochCore.
        .target(
            name: "EpochStore",
            dependencies: [
                "EpochCore",
                "SQLiteDatabase",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // SSH public keys as districts paste them: parsing, checks, fingerprints. No I/O.
        .target(
            name: "SSHKeys",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // Recognising and validating uploads: profiles, CSV reading, checks, zipped sets,
        // problems. Reads files it is given; knows nothing of the store or the mount.
        .target(
            name: "Ingest",
            dependencies: ["EpochCore", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        // Filesystem semantics: inodes, handles, zones, policy, errno. No kernel needed.
        .target(
            name: "EpochFS",
            dependencies: [
                "EpochStore",
                "SQLiteDatabase",
                "SSHKeys",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The libfuse low-level ops table: decode, call EpochFS, reply exactly once.
        .target(
            name: "FuseBridge",
            dependencies: [
                "CFuse",
                "EpochCore",
                "EpochFS",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I\(libfuse)/include"])]
        ),
        // The epoch pipeline: sealing decisions, processing in order, hand-off, publishing.
        .target(
            name: "EpochPipeline",
            dependencies: [
                "CLinux",
                "EpochCore",
                "EpochStore",
                "EpochFS",
                "Ingest",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The district console: accounts, invitations, sessions, sign-ins (a database of its own,
        // the web user's), and the pages, server-rendered from templates compiled into the binary.
        .target(
            name: "EpochWeb",
            dependencies: [
                "EpochCore",
                "SQLiteDatabase",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        .executableTarget(
            name: "epochfs",
            dependencies: [
                "EpochWeb",
                "EpochStore",
                "EpochFS",
                "EpochPipeline",
                "Ingest",
                "FuseBridge",
                "SSHKeys",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Benchmarks that are programs rather than scripts (bench/*.sh call them).
        .executableTarget(name: "ingest-bench", dependencies: ["Ingest"], path: "bench/IngestBench"),

        // What several test targets share: files and bytes, a process that has gone, sets as
        // districts upload them.
        .target(name: "TestSupport", dependencies: ["EpochCore"], path: "Tests/TestSupport"),
        .testTarget(name: "EpochCoreTests", dependencies: ["EpochCore", "TestSupport"]),
        .testTarget(name: "SQLiteDatabaseTests", dependencies: ["SQLiteDatabase", "TestSupport"]),
        .testTarget(name: "EpochStoreTests", dependencies: ["EpochStore", "SQLiteDatabase", "TestSupport"]),
        .testTarget(
            name: "EpochWebTests",
            dependencies: [
                "EpochWeb",
                "TestSupport",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "SSHKeysTests", dependencies: ["SSHKeys"]),
        .testTarget(name: "IngestTests", dependencies: ["Ingest"]),
        .testTarget(name: "EpochFSTests", dependencies: ["EpochFS", "EpochStore", "SSHKeys", "TestSupport"]),
        .testTarget(name: "EpochPipelineTests", dependencies: ["EpochPipeline", "EpochFS", "EpochStore", "Ingest", "TestSupport"]),
        // Mounted tests: real /dev/fuse, real coreutils; run as root.
        .testTarget(name: "MountedTests", dependencies: ["EpochStore", "TestSupport"]),
    ]
)
