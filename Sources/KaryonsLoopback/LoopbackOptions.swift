import KaryonsCore
import KaryonsSimulation

/// What defines a loopback run: the scenario's options (the same `SimulationOptions` a virtual run
/// takes) plus what only real sockets need.
///
/// From `simulation` a loopback run honours: the node count or preset, the seed (node identities
/// and NodeCore seeds, as in the virtual run), seed nodes, the join window, `duration` (wall time
/// here), `sampleInterval` and `settleTime` (wall time). It cannot honour the virtual network's link
/// model, partitions, churn or public addresses, and refuses them (`unsupportedOptions`) rather than
/// ignore them.
public struct LoopbackOptions: Hashable, Sendable {
    /// The scenario and run lengths (durations are wall time).
    public var simulation: SimulationOptions
    /// Host `i` gets this address plus `i` (the scenario's 127.0.0.1 + `i`, moved); an IPv4
    /// loopback address, so every host address stays inside 127.0.0.0/8.
    public var firstAddress: IPAddress = .loopbackV4
    /// Lookup slots per direction (inbound and outbound) of every node; nil keeps the configured
    /// number, lowered to the most that fits the descriptor budget (never below `DescriptorBudget.lookupSlotsMin`).
    public var lookupSlots: Int?
    /// End the run at the first sample at which the network converged (see `LoopbackReport.convergedAt`):
    /// the scenario's own `stopsWhenConverged`, judged by the real run's criteria.
    public var stopsWhenConverged: Bool {
        get { simulation.stopsWhenConverged }
        set { simulation.stopsWhenConverged = newValue }
    }
    /// Descriptors kept out of the node budget: standard streams, the reactor's epoll and eventfd,
    /// the descriptor count's directory, output files, the runtime's own.
    public var reservedDescriptors = 64
    /// The descriptor limit to budget against; nil: the process's `RLIMIT_NOFILE`, raised to its hard limit.
    public var descriptorLimit: Int?

    public init(simulation: SimulationOptions = SimulationOptions()) {
        self.simulation = simulation
    }

    /// The `karyons sim --real` command that runs the same scenario again (not bit for bit: real
    /// runs are not deterministic).
    public var commandLine: String {
        var words = [simulation.commandLine, "--real"]
        if let lookupSlots { words.append("--lookup-slots \(lookupSlots)") }
        if firstAddress != .loopbackV4 { words.append("--first-address \(firstAddress)") }
        return words.joined(separator: " ")
    }

    /// The virtual-network options set in `simulation` that real sockets cannot honour, each with
    /// the reason (empty when there is none).
    public var unsupportedOptions: [String] {
        let defaults = SimulationOptions()
        let options = simulation
        var reasons: [String] = []
        if options.loss > 0 { reasons.append("--loss: loopback does not lose packets on demand") }
        if options.latency != defaults.latency || options.jitter != defaults.jitter {
            reasons.append("--latency/--jitter: loopback links have the kernel's latency")
        }
        if options.duplication > 0 { reasons.append("--duplication: the kernel does not duplicate datagrams on demand") }
        if options.reordering > 0 { reasons.append("--reordering: the kernel does not reorder datagrams on demand") }
        if options.churn > 0 { reasons.append("--churn: nodes are not restarted in a real run") }
        if !options.partitions.isEmpty { reasons.append("--partition: loopback cannot be partitioned from inside the process") }
        switch options.addresses {
        case .loopback: break
        case .publicSubnets: reasons.append("--addresses public: only loopback addresses are local")
        }
        return reasons
    }
}

/// Why a loopback run cannot start.
public enum LoopbackError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Options only the virtual network can honour.
    case unsupportedOptions([String])
    /// The addresses do not fit in 127.0.0.0/8.
    case addressesOutOfRange(String)
    /// The nodes' worst-case descriptors exceed the budget (the message has the arithmetic).
    case descriptorsExceeded(String)
    /// The descriptor limit could not be read.
    case descriptorLimitUnknown(String)
    /// A listener could not open (a port in use, typically).
    case listenFailed(String)
    /// The reactor could not start.
    case reactorFailed(String)

    public var description: String {
        switch self {
        case .unsupportedOptions(let reasons):
            return "real sockets cannot honour these virtual-network options:\n  " + reasons.joined(separator: "\n  ")
        case .addressesOutOfRange(let reason): return "addresses: \(reason)"
        case .descriptorsExceeded(let arithmetic): return "too many nodes for the file-descriptor limit: \(arithmetic)"
        case .descriptorLimitUnknown(let reason): return "cannot read the file-descriptor limit: \(reason)"
        case .listenFailed(let reason):
            return "a node could not listen: \(reason) (another run on these addresses? --first-address moves the hosts)"
        case .reactorFailed(let reason): return "the reactor failed: \(reason)"
        }
    }
}
