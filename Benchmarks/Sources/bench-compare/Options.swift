import PingPong

/// The command line of `bench-compare`.
struct Options {
    var runs = 5
    var stop = StopCondition.duration(seconds: 1)
    var warmUp: StopCondition? = .duration(seconds: 0.25)
    var workloadNames: [String]?
    var implementationNames: [String]?
    var pinningMode = "split"
    var markdown = false
    var verbose = false
    var showHelp = false
    var quick = false
    /// The parts of the report to produce, in report order.
    var sections = Section.allCases
    /// Internal: this process is the allocation pass (started by the parent with the interposer preloaded).
    var isAllocationPass = false

    /// The parts of the report.
    enum Section: String, CaseIterable {
        // Memory first: later sections leave freed (still resident) heap behind, which would hide its growth.
        case memory, pingpong, routing, wire, node, allocations
    }

    /// Fewer runs give no meaningful median and spread on a shared machine.
    static let runsMin = 5

    static let usage = """
        usage: bench-compare [--sections a,b,...] [--runs N] [--quick] [--duration SECONDS | --round-trips N]
                             [--warm-up SECONDS] [--workloads a,b,...] [--implementations C,NIO,Karyons]
                             [--pin split|shared|none] [--markdown] [--verbose]

          --sections          a subset of: \(Section.allCases.map(\.rawValue).joined(separator: ", ")) (default: all)
                              pingpong: the ping-pong table; routing: the routing-table workloads next to the
                              Rust original's figures; wire: frame encode/decode; memory: bytes per idle TCP
                              connection, per idle connected peer and per idle node; node: node-level round
                              trips (custom protocol over the async façade and the reactor callbacks, PING
                              with 1,000 peers); allocations: heap allocations per round trip and per
                              operation (a child process with the malloc interposer preloaded)

          --runs N            timed runs per (workload, implementation), at least 5 (default 5)
          --quick             CI smoke: 5 runs of 0.1 s, warm-up 0.05 s; routing and wire loops 1/100 as long
                              (their check values then differ from the workload file's); a small memory probe
          --duration S        length of each timed run in seconds (default 1)
          --round-trips N     end each timed run after N round trips instead of a duration
          --warm-up S         one untimed run of S seconds per cell before the timed runs (default 0.25; 0 = none)
          --workloads         a subset of: \(PingPongWorkload.standard.map(\.name).joined(separator: ", "))
          --implementations   a subset of the columns (default: all)
          --pin               split: client and server on two different CPUs (default);
                              shared: both on one CPU; none: leave it to the scheduler
          --markdown          print the table as Markdown
          --verbose           print every measurement as it completes
        """

    /// A command-line error.
    struct UsageError: Error, CustomStringConvertible {
        var description: String
    }

    init(arguments: [String]) throws(UsageError) {
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            switch argument {
            case "--help", "-h": showHelp = true
            case "--quick":
                quick = true
                stop = .duration(seconds: 0.1)
                warmUp = .duration(seconds: 0.05)
            case "--sections":
                let names = try Self.list(of: argument, from: &remaining)
                var chosen: [Section] = []
                for name in names {
                    guard let section = Section(rawValue: name) else { throw UsageError(description: "unknown section '\(name)'") }
                    chosen.append(section)
                }
                sections = Section.allCases.filter { chosen.contains($0) }
            case "--allocation-pass": isAllocationPass = true
            case "--markdown": markdown = true
            case "--verbose", "-v": verbose = true
            case "--runs": runs = try Self.integer(of: argument, from: &remaining, minimum: Self.runsMin)
            case "--round-trips": stop = .roundTrips(try Self.integer(of: argument, from: &remaining, minimum: 1))
            case "--duration": stop = .duration(seconds: try Self.seconds(of: argument, from: &remaining, minimum: 0.001))
            case "--warm-up":
                let seconds = try Self.seconds(of: argument, from: &remaining, minimum: 0)
                warmUp = seconds > 0 ? .duration(seconds: seconds) : nil
            case "--workloads": workloadNames = try Self.list(of: argument, from: &remaining)
            case "--implementations": implementationNames = try Self.list(of: argument, from: &remaining)
            case "--pin": pinningMode = try Self.value(of: argument, from: &remaining)
            default: throw UsageError(description: "unknown argument '\(argument)'")
            }
        }
        guard ["split", "shared", "none"].contains(pinningMode) else {
            throw UsageError(description: "--pin takes split, shared or none")
        }
        let known = Set(PingPongWorkload.standard.map(\.name))
        if let unknown = workloadNames?.first(where: { !known.contains($0) }) {
            throw UsageError(description: "unknown workload '\(unknown)'")
        }
    }

    func plan(implementations: [any PingPongImplementation]) -> ComparisonPlan {
        let workloads = PingPongWorkload.standard.filter { workloadNames?.contains($0.name) ?? true }
        let columns = implementations.filter { implementationNames?.contains($0.name) ?? true }
        let pinning: CPUPinning
        switch pinningMode {
        case "shared": pinning = MachineCPUs.shared
        case "none": pinning = .none
        default: pinning = MachineCPUs.split
        }
        return ComparisonPlan(
            workloads: workloads,
            implementations: columns,
            runs: runs,
            stop: stop,
            warmUp: warmUp,
            pinning: pinning
        )
    }

    private static func value(of option: String, from remaining: inout ArraySlice<String>) throws(UsageError) -> String {
        guard let value = remaining.popFirst() else { throw UsageError(description: "\(option) needs a value") }
        return value
    }

    private static func integer(of option: String, from remaining: inout ArraySlice<String>, minimum: Int) throws(UsageError) -> Int {
        let text = try value(of: option, from: &remaining)
        guard let number = Int(text), number >= minimum else {
            throw UsageError(description: "\(option) takes an integer >= \(minimum), not '\(text)'")
        }
        return number
    }

    private static func seconds(of option: String, from remaining: inout ArraySlice<String>, minimum: Double) throws(UsageError) -> Double {
        let text = try value(of: option, from: &remaining)
        guard let number = Double(text), number.isFinite, number >= minimum else {
            throw UsageError(description: "\(option) takes a number of seconds >= \(minimum), not '\(text)'")
        }
        return number
    }

    private static func list(of option: String, from remaining: inout ArraySlice<String>) throws(UsageError) -> [String] {
        try value(of: option, from: &remaining).split(separator: ",").map(String.init)
    }
}
