import Foundation
import KaryonsPingPong
import NIOPingPong
import PingPong

/// `bench-compare`: runs every ping-pong workload for every implementation, in alternation, and
/// prints medians, spreads and ratios. See Benchmarks/README.md.
@main
struct BenchCompare {
    static func main() {
        let options: Options
        do {
            options = try Options(arguments: Array(CommandLine.arguments.dropFirst()))
        } catch {
            FileHandle.standardError.write(Data("bench-compare: \(error)\n\n\(Options.usage)\n".utf8))
            exit(2)
        }
        if options.showHelp {
            print(Options.usage)
            return
        }
        let known = Set(allImplementations.map(\.name))
        if let unknown = options.implementationNames?.first(where: { !known.contains($0) }) {
            FileHandle.standardError.write(Data("bench-compare: unknown implementation '\(unknown)'\n".utf8))
            exit(2)
        }
        let plan = options.plan(implementations: allImplementations)
        print(header(options: options, plan: plan))
        let cells = ComparisonRunner.run(plan) { line in
            if options.verbose { print("  " + line) }
        }
        print("")
        print(Table.render(cells, ratioBaselines: plan.ratioBaselines, markdown: options.markdown))
        let failures = cells.filter { $0.failure != nil }
        if !failures.isEmpty {
            FileHandle.standardError.write(Data("bench-compare: \(failures.count) cell(s) failed\n".utf8))
            exit(1)
        }
    }

    /// Every implementation that can be a column.
    static let allImplementations: [any PingPongImplementation] = [
        CBaselinePingPong(), NIOPingPong(), KaryonsPingPong(),
    ]

    static func header(options: Options, plan: ComparisonPlan) -> String {
        var lines = ["bench-compare: ping-pong over 127.0.0.1, round trips per second (higher is better)"]
        lines.append("command:  bench-compare " + CommandLine.arguments.dropFirst().joined(separator: " "))
        lines.append("machine:  \(MachineInfo.cpuModel), \(MachineInfo.allowedCPUCount) CPUs allowed, \(MachineInfo.kernel)")
        lines.append("load:     \(MachineInfo.loadAverage) (1/5/15 min, before the runs)")
        lines.append("plan:     \(plan.runs) timed runs per cell of \(plan.stop), warm-up \(plan.warmUp?.description ?? "none"), \(plan.pinning)")
        lines.append("columns:  " + plan.implementations.map(\.name).joined(separator: ", "))
        for workload in plan.workloads {
            lines.append("  \(workload.name): \(workload)")
        }
        return lines.joined(separator: "\n")
    }
}

/// Facts about the machine for the table's header.
enum MachineInfo {
    static var cpuModel: String {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("model name") }
        return line.flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) }
            ?? "unknown CPU"
    }

    static var allowedCPUCount: Int {
        var count = 0
        while MachineCPUs.allowed(count) != nil { count += 1 }
        return count
    }

    static var kernel: String {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "Linux \(release)"
    }

    static var loadAverage: String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }
}
