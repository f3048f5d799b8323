// swift-tools-version: 6.0
import PackageDescription

// The engine (CEpoll, KaryonsCore, KaryonsNode) depends on nothing but libc.
// KaryonsCore is I/O-free and builds without CEpoll; only KaryonsNode talks to the kernel.
let package = Package(
    name: "Karyons",
    products: [
        .library(name: "KaryonsCore", targets: ["KaryonsCore"]),
        .library(name: "KaryonsNode", targets: ["KaryonsNode"]),
    ],
    targets: [
        .target(name: "CEpoll"),
        .target(name: "KaryonsCore"),
        .target(name: "KaryonsNode", dependencies: ["CEpoll", "KaryonsCore"]),
        // libFuzzer target for the wire and text decoders (Scripts/fuzz-wire.sh); a replay tool otherwise.
        .executableTarget(name: "FuzzWire", dependencies: ["KaryonsCore"]),
        .testTarget(
            name: "KaryonsCoreTests",
            dependencies: ["KaryonsCore"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "KaryonsNodeTests", dependencies: ["KaryonsNode", "KaryonsCore", "CEpoll"]),
    ],
    swiftLanguageModes: [.v6]
)
