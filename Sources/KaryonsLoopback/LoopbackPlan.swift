import KaryonsCore
import KaryonsSimulation

/// The hosts of a loopback run: the virtual run's `Scenario` for the same options, moved to
/// `firstAddress`, with the lookup slots the descriptor budget allows.
///
/// Each node keeps the scenario's address (127.0.0.1 + host index, moved), ports, bootstrap and
/// dial endpoints, start time, identity and NodeCore seed; it binds its outgoing sockets to its
/// own address, so remotes see the address the scenario gives it.
public struct LoopbackPlan: Sendable {
    /// One node of the run.
    public struct Host: Hashable, Sendable {
        /// The host's index in the scenario.
        public var index: Int
        /// Its loopback address: listeners bind there, and its connections come from there.
        public var address: IPAddress
        /// Its node configuration (addresses moved, lookup slots from the budget).
        public var configuration: NodeConfiguration
        /// When it starts, after the run's start.
        public var start: Duration
        /// Its identity and NodeCore seed (as in the virtual run of the same seed).
        public var id: PeerID
        public var seed: UInt64
    }

    /// The hosts in index order.
    public var hosts: [Host]
    /// Hosts `0..<protectedHosts` are the scenario's seeds.
    public var protectedHosts: Int
    /// The descriptor budget the hosts fit in.
    public var budget: DescriptorBudget

    /// The plan of `options`, budgeted against `descriptorLimit`, or why it cannot run.
    public init(options: LoopbackOptions, descriptorLimit: Int) throws(LoopbackError) {
        let unsupported = options.unsupportedOptions
        guard unsupported.isEmpty else { throw .unsupportedOptions(unsupported) }
        let scenario = Scenario(options.simulation)
        let move = try Self.addressMove(to: options.firstAddress, hostCount: scenario.hosts.count)
        let configurations = scenario.hosts.map { Self.moved($0.configuration, by: move) }
        let budget = try DescriptorBudget.fit(
            configurations, seeds: scenario.protectedHosts, limit: descriptorLimit, reserved: options.reservedDescriptors,
            lookupSlots: options.lookupSlots)
        self.budget = budget
        let seed = options.simulation.seed
        hosts = scenario.hosts.enumerated().map { index, plan in
            Host(
                index: index, address: move(plan.address),
                configuration: budget.configuration(ofHost: index, configurations[index]),
                start: Duration(nanoseconds: plan.start.nanoseconds),
                id: Simulation.firstIdentity(host: index, plan: plan, seed: seed),
                seed: Simulation.firstNodeSeed(host: index, plan: plan, seed: seed))
        }
        protectedHosts = scenario.protectedHosts
    }

    /// When the last host starts, after the run's start.
    public var lastJoin: Duration { hosts.map(\.start).max() ?? .zero }

    /// The scenario's loopback addresses (127.0.0.1 + i) moved to start at `first`; refuses a move
    /// that leaves 127.0.0.0/8 (or reaches its broadcast address).
    static func addressMove(to first: IPAddress, hostCount: Int) throws(LoopbackError) -> @Sendable (IPAddress) -> IPAddress {
        let scenarioFirst: UInt32 = 0x7F00_0001
        let lastUsable: UInt32 = 0x7FFF_FFFE
        guard case .v4(let base) = first, base >> 24 == 0x7F, base != 0x7F00_0000 else {
            throw .addressesOutOfRange("the first address must be an IPv4 loopback host address (127.x.y.z), not \(first)")
        }
        guard UInt64(base) + UInt64(max(hostCount, 1)) - 1 <= UInt64(lastUsable) else {
            throw .addressesOutOfRange("\(hostCount) hosts from \(first) leave 127.0.0.0/8")
        }
        return { address in
            guard case .v4(let value) = address, value >= scenarioFirst, value >> 24 == 0x7F else { return address }
            return .v4(base + (value - scenarioFirst))
        }
    }

    /// `configuration` with every endpoint's address moved.
    static func moved(_ configuration: NodeConfiguration, by move: (IPAddress) -> IPAddress) -> NodeConfiguration {
        func endpoint(_ endpoint: Endpoint) -> Endpoint { Endpoint(endpoint.transport, address: move(endpoint.address), port: endpoint.port) }
        var configuration = configuration
        configuration.peerListener = configuration.peerListener.map(endpoint)
        configuration.lookupListener = configuration.lookupListener.map(endpoint)
        configuration.refreshListener = configuration.refreshListener.map(endpoint)
        configuration.externalAddress = configuration.externalAddress.map(move)
        configuration.bootstrapPeers = configuration.bootstrapPeers.map(endpoint)
        configuration.dialPeers = configuration.dialPeers.map(endpoint)
        return configuration
    }
}
