// swift-tools-version: 6.0
import PackageDescription

// The engine (CEpoll, KaryonsCore, KaryonsNode) depends on nothing but libc.
// KaryonsCore is I/O-free and builds without CEpoll; only KaryonsNode talks to the kernel.
// KaryonsSimulation runs many KaryonsCore nodes on a virtual network; only the `karyons` tool uses
// swift-argument-parser (kept out of every library target).
let package = Package(
    name: "Karyons",
    products: [
        .library(name: "KaryonsCore", targets: ["KaryonsCore"]),
        .library(name: "KaryonsNode", targets: ["KaryonsNode"]),
        .library(name: "KaryonsSimulation", targets: ["KaryonsSimulation"]),
        .executable(name: "karyons", targets: ["karyons"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CEpoll"),
        .target(name: "KaryonsCore"),
        .target(name: "KaryonsNode", dependencies: ["CEpoll", "KaryonsCore"]),
        .target(name: "KaryonsSimulation", dependencies: ["KaryonsCore"]),
        .executableTarget(
            name: "karyons",
            dependencies: ["KaryonsSimulation", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "KaryonsCoreTests",
            dependencies: ["KaryonsCore"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "KaryonsNodeTests", dependencies: ["KaryonsNode", "KaryonsCore", "CEpoll"]),
        .testTarget(name: "KaryonsSimulationTests", dependencies: ["KaryonsSimulation", "KaryonsCore"]),
    ],
    swiftLanguageModes: [.v6]
)
