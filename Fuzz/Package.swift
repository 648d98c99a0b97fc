// swift-tools-version: 5.4
import PackageDescription

// Coverage-guided fuzz targets (libFuzzer) for what reads districts' uploads and pastes. A
// package of its own, so that the project's normal build never compiles a target whose entry
// point is libFuzzer's; scripts/fuzz.sh builds it with -sanitize=fuzzer and runs it.
//
// Tools version 5.4: from 5.5 on, SwiftPM links an executable's `main` to a renamed entry point
// of its module, which a fuzz target (built with -parse-as-library, libFuzzer's `main`) lacks.
let package = Package(
    name: "EpochFSFuzz",
    dependencies: [
        .package(name: "EpochFS", path: ".."),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "Ingest", package: "EpochFS")]),
        .executableTarget(name: "fuzz-csv", dependencies: ["FuzzSupport", .product(name: "Ingest", package: "EpochFS")]),
        .executableTarget(name: "fuzz-validator", dependencies: ["FuzzSupport", .product(name: "Ingest", package: "EpochFS")]),
        .executableTarget(name: "fuzz-zip", dependencies: ["FuzzSupport", .product(name: "Ingest", package: "EpochFS")]),
        .executableTarget(name: "fuzz-manifest", dependencies: ["FuzzSupport", .product(name: "Ingest", package: "EpochFS")]),
        .executableTarget(name: "fuzz-sshkeys", dependencies: ["FuzzSupport", .product(name: "SSHKeys", package: "EpochFS")]),
    ]
)
