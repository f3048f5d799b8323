import Foundation
import KaryonsPingPong
import NIOPingPong
import PingPong

/// `bench-compare`: the Karyons benchmark report. Runs the ping-pong workloads for every
/// implementation in alternation (medians, spreads, ratios), the routing-table workloads next to the
/// Rust original's figures, the wire encode/decode cases, the memory per idle connection, and an
/// allocation pass. See Benchmarks/README.md.
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
        if options.isAllocationPass {
            exit(AllocationPass.run(options) ? 0 : 1)
        }
        print(header())
        var failures: [String] = []
        for section in options.sections {
            print("")
            let succeeded: Bool
            switch section {
            case .pingpong: succeeded = Sections.pingPong(options)
            case .routing: succeeded = Sections.routing(options)
            case .wire: succeeded = Sections.wire(options)
            case .node: succeeded = Sections.node(options)
            case .memory: succeeded = Sections.memory(options)
            case .allocations: succeeded = AllocationPass.spawn(options)
            }
            if !succeeded { failures.append(section.rawValue) }
        }
        if !failures.isEmpty {
            FileHandle.standardError.write(Data("bench-compare: failed: \(failures.joined(separator: ", "))\n".utf8))
            exit(1)
        }
    }

    /// Every implementation that can be a ping-pong column.
    static let allImplementations: [any PingPongImplementation] = [
        CBaselinePingPong(), NIOPingPong(), KaryonsPingPong(),
    ]

    static func header() -> String {
        var lines = ["bench-compare: the Karyons benchmark report"]
        lines.append("command:  bench-compare " + CommandLine.arguments.dropFirst().joined(separator: " "))
        lines.append("machine:  \(MachineInfo.cpuModel), \(MachineInfo.allowedCPUCount) CPUs allowed, \(MachineInfo.kernel)")
        lines.append("load:     \(MachineInfo.loadAverage) (1/5/15 min, before the runs)")
        return lines.joined(separator: "\n")
    }
}

/// Facts about the machine for the report's header.
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
