import ArgumentParser
import KaryonsCore
import KaryonsSimulation

/// `karyons sim`: many NodeCores in one process on the deterministic virtual network, or (`--real`)
/// on real loopback sockets, one reactor.
struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Run many nodes on a deterministic virtual network (or real loopback sockets) and report metrics.",
        discussion: """
            Every node runs the real NodeCore on its own loopback address (127.0.0.1, 127.0.0.2, ...), \
            data port 30000, discovery port 30010 (TCP lookups and UDP refresh). The same seed and options \
            give the same run bit for bit: the summary prints a digest, and a failing run prints the command \
            that replays it. Progress goes to standard error on long runs. Exit status 1 when an invariant \
            broke or liveness failed.

            --real runs the same scenario (addresses, ports, seeds, bootstrap plan, join times, node \
            identities) on real TCP and UDP sockets over 127.0.0.0/8, every node on one reactor in this \
            process; each node binds its outgoing sockets to its own address. Times are wall time \
            (defaults: --duration 3m, --sample 1s). The run raises the file-descriptor soft limit to the \
            hard limit and refuses a node count whose worst case (listeners, peer and lookup slots in and \
            out) cannot fit; lookup slots are lowered to fit (the seeds keep theirs when that still fits) \
            unless --lookup-slots is given. The virtual link model, partitions, churn, public addresses and \
            --no-invariants are refused with --real; invariants are checked at every sample, --plot charts \
            wall time, and a real run has no digest.
            """
    )

    @Option(help: "Nodes in the network.")
    var nodes: Int?

    @Option(help: "The simulation seed.")
    var seed: UInt64 = 1

    @Option(help: "Virtual time to simulate (e.g. 10m, 90s, 1h30m); wall time with --real. (default: 10m, 3m with --real)")
    var duration: String?

    @Option(help: "Probability that a packet transmission is lost (0.05 or 5%). (default: 0)")
    var loss: String?

    @Option(help: "One-way link latency range, drawn per host pair (e.g. 20ms..80ms, or 50ms). (default: 20ms..80ms)")
    var latency: String?

    @Option(help: "Extra delay per packet, up to this much. (default: 5ms)")
    var jitter: String?

    @Option(help: "Probability that a datagram is duplicated. (default: 0)")
    var duplication: String?

    @Option(help: "Probability that a datagram is held back and overtaken. (default: 0)")
    var reordering: String?

    @Option(help: "Share of the non-seed nodes that go down per virtual minute (half leave gracefully, half crash; they come back after 10-60 s, half with a fresh identity). (default: 0)")
    var churn: String?

    @Option(help: "A partition that heals: share of nodes cut off, from..to (e.g. 50%@2m..5m). Repeatable.")
    var partition: [String] = []

    @Option(help: "A predefined topology: seed12 (the original's 12-peer simulation).")
    var preset: String?

    @Option(help: "Seed nodes every other node bootstraps from (default: 1 per 100 nodes, 1...8; beyond 10,000 nodes 1 per 1,250).")
    var seeds: Int?

    @Option(help: "Non-seed nodes start spread over this window (default: 100 ms per node, at most 1m).")
    var join: String?

    @Option(help: "Metrics sampling interval in virtual time (wall time with --real). (default: 10s, 1s with --real)")
    var sample: String?

    @Option(help: "Host addresses: loopback (127.x.y.z) or public (20.x.y.z, subnet-diversity limits apply). (default: loopback)")
    var addresses: String?

    @Option(help: "With --addresses public: hosts per /24 subnet. (default: 1)")
    var hostsPerSubnet: Int?

    @Option(help: "Settle time after the last heal or join before liveness is judged.")
    var settle = "1m"

    @Flag(name: .customLong("no-invariants"), help: "Do not check node invariants after every event (faster).")
    var noInvariants = false

    @Flag(name: .customLong("inline-invariants"), help: "Check node invariants on the simulation's own thread (by default a second thread checks them when the machine has two cores or more; the run is the same).")
    var inlineInvariants = false

    @Flag(help: "Print one JSON object instead of the summary table.")
    var json = false

    @Option(help: "Write an SVG chart of the metrics over virtual time (wall time with --real) to this file.")
    var plot: String?

    @Flag(help: "Print every node event to standard error.")
    var trace = false

    @Option(name: .customLong("trace-host"), help: "Print this host's node events to standard error, and its state at the end (routing table, peers, dials). Repeatable.")
    var traceHost: [Int] = []

    @Flag(help: "No progress lines on standard error.")
    var quiet = false

    @Flag(help: "Run the scenario on real loopback sockets, all nodes on one reactor in this process.")
    var real = false

    @Option(help: "With --real: lookup slots per direction of every node (default: the configured 20, lowered to fit the descriptor limit; the seeds keep theirs when that still fits).")
    var lookupSlots: Int?

    @Option(help: "With --real: the address of host 0 (hosts get consecutive 127.x.y.z addresses). (default: 127.0.0.1)")
    var firstAddress: String?

    @Flag(help: "End at the first sample where every node is up, in one component, knowing a verified entry (virtual runs: and \(Int(MetricsSample.convergedVerifiedShareMin * 100))% of table capacity verified).")
    var untilConverged = false

    func validate() throws {
        if real {
            try validateReal()
        } else if lookupSlots != nil || firstAddress != nil {
            throw ValidationError("--lookup-slots and --first-address need --real")
        }
        _ = try makeOptions()
    }

    func run() throws {
        if real {
            try runReal()
            return
        }
        let options = try makeOptions()
        let prefaulter = HeapPrefaulter.hasCoreOfItsOwn(options) ? HeapPrefaulter() : nil
        defer { prefaulter?.stop() }
        CrashMessage.install("karyons sim crashed; seed \(options.seed); replay with:\n  \(options.commandLine)")
        let simulation = Simulation(options: options)
        var convergedWallSeconds: Double?
        let tracedHosts = Set(traceHost)
        if trace || !tracedHosts.isEmpty {
            simulation.network.onNodeEvent = { host, time, event in
                guard tracedHosts.isEmpty || tracedHosts.contains(host) else { return }
                SystemResources.printError("\(time) host \(host): \(event)")
            }
        }
        let started = SystemResources.monotonicSeconds()
        var lastProgress = started
        let report = simulation.run { progress in
            let now = SystemResources.monotonicSeconds()
            if convergedWallSeconds == nil, progress.convergedAt != nil { convergedWallSeconds = now - started }
            guard !quiet else { return }
            guard now - lastProgress >= 2 else { return }
            lastProgress = now
            SystemResources.printError(Self.describe(progress, wallSeconds: now - started))
        }
        let resources = SimulationReport.Resources(
            wallSeconds: SystemResources.monotonicSeconds() - started, maxResidentBytes: SystemResources.maxResidentBytes(),
            convergedWallSeconds: convergedWallSeconds, hugePageBytes: HugePageHeap.hugePageBytes())
        if json {
            print(report.json(resources: resources).serialized())
        } else {
            print(report.summary(resources: resources), terminator: "")
        }
        if let plot { try SystemResources.write(report.svgChart(), to: plot) }
        for host in traceHost { SystemResources.printError(simulation.inspection(ofHost: host)) }
        guard report.passed else {
            if json { SystemResources.printError("FAILED; seed \(options.seed); replay with:\n  \(report.commandLine)") }
            throw ExitCode(1)
        }
    }

    private static func describe(_ progress: SimulationProgress, wallSeconds: Double) -> String {
        let done = progress.end.nanoseconds == 0 ? 100 : Int(100 * progress.now.nanoseconds / progress.end.nanoseconds)
        return "sim: \(SimulationOptions.format(Duration(nanoseconds: progress.now.nanoseconds / 1_000_000 * 1_000_000))) "
            + "of \(SimulationOptions.format(Duration(nanoseconds: progress.end.nanoseconds))) (\(done)%), "
            + "\(progress.events) events, \(progress.nodesUp) nodes up, \(progress.violations) violations, "
            + "\(Int(wallSeconds)) s wall"
    }

    /// The options, parsed and checked.
    func makeOptions() throws -> SimulationOptions {
        var options = SimulationOptions()
        do {
            if let preset {
                guard let value = SimulationOptions.Preset(rawValue: preset) else {
                    throw ValidationError("unknown preset '\(preset)' (available: \(SimulationOptions.Preset.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                if let nodes, nodes != 12 { throw ValidationError("--preset seed12 runs 12 nodes; drop --nodes \(nodes)") }
                options.preset = value
            }
            if let nodes {
                guard (1...SimulationLimits.nodesMax).contains(nodes) else {
                    throw ValidationError("--nodes must be in 1...\(SimulationLimits.nodesMax)")
                }
                options.nodes = nodes
            }
            options.seed = seed
            options.duration = try SimulationOptions.parseDuration(duration ?? (real ? "3m" : "10m"))
            options.loss = try SimulationOptions.parseProbability(loss ?? "0")
            options.latency = try SimulationOptions.parseLatency(latency ?? "20ms..80ms")
            options.jitter = try SimulationOptions.parseDuration(jitter ?? "5ms")
            options.duplication = try SimulationOptions.parseProbability(duplication ?? "0")
            options.reordering = try SimulationOptions.parseProbability(reordering ?? "0")
            options.churn = try SimulationOptions.parseProbability(churn ?? "0")
            options.partitions = try partition.map { try SimulationOptions.parsePartition($0) }
            if let seeds {
                guard seeds >= 1 else { throw ValidationError("--seeds must be at least 1") }
                options.seedNodes = seeds
            }
            if let join { options.joinWindow = try SimulationOptions.parseDuration(join) }
            options.sampleInterval = try SimulationOptions.parseDuration(sample ?? (real ? "1s" : "10s"))
            guard options.sampleInterval >= .milliseconds(100) else { throw ValidationError("--sample must be at least 100ms") }
            switch addresses ?? "loopback" {
            case "loopback": options.addresses = .loopback
            case "public":
                let hostsPerSubnet = self.hostsPerSubnet ?? 1
                guard (1...254).contains(hostsPerSubnet) else { throw ValidationError("--hosts-per-subnet must be in 1...254") }
                options.addresses = .publicSubnets(hostsPerSubnet: hostsPerSubnet)
            default: throw ValidationError("--addresses must be loopback or public")
            }
            options.settleTime = try SimulationOptions.parseDuration(settle)
            options.checksInvariants = !noInvariants
            options.checksConcurrently = !inlineInvariants && SystemResources.processorsOnline >= 2
            options.stopsWhenConverged = untilConverged
        } catch let error as OptionParseError {
            throw ValidationError(error.message)
        }
        return options
    }
}
