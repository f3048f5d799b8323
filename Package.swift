// swift-tools-version: 6.0
import PackageDescription

// The engine (CEpoll, KaryonsCore, KaryonsNode) depends on nothing but libc; the façade in
// KaryonsNode logs through swift-log. KaryonsCore is I/O-free and builds without CEpoll; only
// KaryonsNode talks to the kernel. KaryonsSimulation runs many KaryonsCore nodes on a virtual
// network; KaryonsLoopback runs the same scenario on real loopback sockets, one reactor. Only the
// `karyons` tool uses swift-argument-parser (kept out of every library target).
let package = Package(
    name: "Karyons",
    products: [
        .library(name: "KaryonsCore", targets: ["KaryonsCore"]),
        .library(name: "KaryonsNode", targets: ["KaryonsNode"]),
        .library(name: "KaryonsSimulation", targets: ["KaryonsSimulation"]),
        .library(name: "KaryonsLoopback", targets: ["KaryonsLoopback"]),
        .executable(name: "karyons", targets: ["karyons"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CEpoll"),
        .target(name: "KaryonsCore"),
        .target(
            name: "KaryonsNode",
            dependencies: ["CEpoll", "KaryonsCore", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "KaryonsSimulation", dependencies: ["KaryonsCore"]),
        .target(name: "KaryonsLoopback", dependencies: ["KaryonsCore", "KaryonsNode", "KaryonsSimulation"]),
        .executableTarget(
            name: "karyons",
            dependencies: [
                "KaryonsSimulation", "KaryonsNode", "KaryonsLoopback",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libFuzzer target for the wire and text decoders (Scripts/fuzz-wire.sh); a replay tool otherwise.
        .executableTarget(name: "FuzzWire", dependencies: ["KaryonsCore"]),
        .testTarget(
            name: "KaryonsCoreTests",
            dependencies: ["KaryonsCore"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "KaryonsNodeTests", dependencies: ["KaryonsNode", "KaryonsCore", "CEpoll"]),
        .testTarget(name: "KaryonsSimulationTests", dependencies: ["KaryonsSimulation", "KaryonsCore"]),
        .testTarget(name: "KaryonsLoopbackTests", dependencies: ["KaryonsLoopback", "KaryonsSimulation", "KaryonsCore"]),
        // The tool's option parsing and validation (the executable target, imported for testing).
        .testTarget(name: "karyonsTests", dependencies: ["karyons", "KaryonsSimulation", "KaryonsCore"]),
    ],
    swiftLanguageModes: [.v6]
)
