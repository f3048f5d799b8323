// swift-tools-version: 6.1
import PackageDescription

// The Karyons benchmark suite: a separate package, so that the engine itself keeps no dependency.
//
// - RoutingWorkloads: the routing-table workload inputs shared with the Rust original
//   (../shared/reference/routing-table-workloads.md), reproduced bit for bit.
// - CBaselines: raw C epoll ping-pong baselines (UDP, UDP with recvmmsg/sendmmsg, TCP framed).
// - PingPong: the workload description, the `PingPongImplementation` protocol, the C column and the
//   statistics; NIOPingPong: the SwiftNIO column. SwiftNIO is used for baselines only.
// - bench-compare: runs every workload for every implementation in alternation and prints the table.
// - CoreBenchmarks: ordo-one benchmarks of KaryonsCore primitives (`swift package benchmark`).

// A `.package(path:)` dependency is identified by its directory name, not its manifest name, so the
// root package's identity depends on where the repository was cloned. Derive it from our own path.
let rootPackage = String(Context.packageDirectory.split(separator: "/").dropLast().last!)

let package = Package(
    name: "KaryonsBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        // Only to give the node benchmarks' façade nodes a logger that drops everything.
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .target(
            name: "RoutingWorkloads",
            dependencies: [.product(name: "KaryonsCore", package: rootPackage)]
        ),
        .target(name: "CBaselines"),
        .target(name: "PingPong", dependencies: ["CBaselines"]),
        .target(
            name: "NIOPingPong",
            dependencies: [
                "PingPong",
                "CBaselines",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .target(
            name: "KaryonsPingPong",
            dependencies: [
                "PingPong",
                .product(name: "KaryonsCore", package: rootPackage),
                .product(name: "KaryonsNode", package: rootPackage),
            ]
        ),
        .target(
            name: "EngineBenchmarks",
            dependencies: [
                "PingPong",
                "CBaselines",
                "RoutingWorkloads",
                .product(name: "KaryonsCore", package: rootPackage),
                .product(name: "KaryonsNode", package: rootPackage),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "bench-compare",
            dependencies: [
                // Not linked with the malloc interposer (that would interpose every run): its
                // allocation pass preloads the library that CoreBenchmarks' dependency builds.
                "PingPong", "NIOPingPong", "KaryonsPingPong", "EngineBenchmarks",
            ]
        ),
        .executableTarget(
            name: "CoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "KaryonsCore", package: rootPackage),
                "RoutingWorkloads",
            ],
            path: "Benchmarks/CoreBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .testTarget(name: "RoutingWorkloadsTests", dependencies: ["RoutingWorkloads"]),
        .testTarget(name: "EngineBenchmarksTests", dependencies: ["EngineBenchmarks", "PingPong"]),
        .testTarget(name: "PingPongTests", dependencies: ["PingPong", "NIOPingPong", "KaryonsPingPong"]),
    ],
    swiftLanguageModes: [.v6]
)
