import EngineBenchmarks
import Foundation
import PingPong

/// The allocation part of the report: heap allocations per ping-pong round trip (every
/// implementation) and per routing-table and wire operation.
///
/// It runs in a child process (this executable again, with `--allocation-pass`) started with the
/// malloc interposer preloaded, so the timed runs of the parent never pay for the interposer.
enum AllocationPass {
    /// Round trips of the short and the long run of the differential probe.
    static func roundTrips(quick: Bool) -> (short: Int, long: Int) { quick ? (2_000, 12_000) : (20_000, 120_000) }

    /// Starts the child and waits for it; false if it could not run or failed.
    static func spawn(_ options: Options) -> Bool {
        print("== allocations (child process with the malloc interposer preloaded)")
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let library = executable.deletingLastPathComponent().appendingPathComponent(AllocationCounter.libraryName)
        guard FileManager.default.fileExists(atPath: library.path) else {
            print("skipped: \(library.path) is missing; build the whole package first "
                + "(swift build -c release --package-path Benchmarks)")
            return false
        }
        let child = Process()
        child.executableURL = executable
        child.arguments = Array(CommandLine.arguments.dropFirst()) + ["--allocation-pass"]
        var environment = ProcessInfo.processInfo.environment
        environment["LD_PRELOAD"] = library.path
        child.environment = environment
        fflush(nil)  // our buffered output first, then the child's
        do {
            try child.run()
        } catch {
            print("could not start the allocation pass: \(error)")
            return false
        }
        child.waitUntilExit()
        return child.terminationStatus == 0
    }

    /// The child's work. Prints one table per section asked for.
    static func run(_ options: Options) -> Bool {
        guard AllocationCounter.isAvailable else {
            print("the malloc interposer is not loaded (LD_PRELOAD); nothing counted")
            return false
        }
        var succeeded = true
        if options.sections.contains(.pingpong) { succeeded = pingPong(options) && succeeded }
        if options.sections.contains(.routing) {
            engine("routing table", RoutingTableCases.cases(scale: Sections.scale(options)), options)
        }
        if options.sections.contains(.wire) { engine("wire", WireCases.cases(scale: Sections.scale(options)), options) }
        let nodeCases = NodeCases.cases(scale: Sections.scale(options))
        if options.sections.contains(.node) && !nodeCases.isEmpty { engine("node", nodeCases, options) }
        return succeeded
    }

    static func pingPong(_ options: Options) -> Bool {
        let plan = options.plan(implementations: BenchCompare.allImplementations)
        let (short, long) = roundTrips(quick: options.quick)
        print("ping-pong: allocations of the whole process per round trip, from runs of \(short) and \(long) round trips "
            + "(setup and teardown cancel out)")
        let header = ["workload", "impl", "allocations/round trip", "short run", "long run"]
        var rows: [[String]] = []
        var succeeded = true
        for workload in plan.workloads {
            for implementation in plan.implementations where implementation.supports(workload) {
                do {
                    guard let measurement = try AllocationProbe.measure(
                        implementation, workload: workload, pinning: plan.pinning, shortRoundTrips: short,
                        longRoundTrips: long)
                    else { continue }
                    rows.append([workload.name, implementation.name, Table.fixed(measurement.perRoundTrip, decimals: 3),
                                 String(measurement.shortRunAllocations), String(measurement.longRunAllocations)])
                } catch {
                    rows.append([workload.name, implementation.name, "failed: \(error)", "", ""])
                    succeeded = false
                }
            }
        }
        print(Table.render(header: header, rows: rows, numericColumns: 2...4, markdown: options.markdown))
        print("")
        fflush(nil)
        return succeeded
    }

    static func engine(_ title: String, _ cases: [EngineCase], _ options: Options) {
        print("\(title): allocations per operation (one counted run of each loop)")
        let counts = EngineRunner.countAllocations(cases)
        let rows = zip(cases, counts).map { engineCase, count in
            [engineCase.name, engineCase.label, EngineRunner.allocationText(count)]
        }
        print(Table.render(header: ["case", "what", "allocations/op"], rows: rows, numericColumns: 2...2,
                           markdown: options.markdown))
        print("")
        fflush(nil)
    }
}
