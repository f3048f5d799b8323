import KaryonsCore

/// The hosts of a simulated run: address, node configuration, start time and identity of each.
///
/// The uniform topology (`SimulationOptions.preset == nil`): every node listens on its own address
/// with fixed ports (data `dataPort`, lookup TCP and refresh UDP `discoveryPort`); the first
/// `effectiveSeedNodes` hosts are seeds, start at once, bootstrap from the other seeds and never
/// churn; every other node bootstraps from all seeds and starts at its place in the join window.
/// The `seed12` preset is the original's 12-peer simulation (karyons-behaviour.md §9), each peer on
/// its own loopback address with the original's ports.
public struct Scenario: Sendable {
    /// One host of the run.
    public struct HostPlan: Hashable, Sendable {
        /// The host's address.
        public var address: IPAddress
        /// The configuration of every node it boots.
        public var configuration: NodeConfiguration
        /// When its node first starts.
        public var start: Instant
        /// Text whose SHA-256 is the node's first identity (seed12: "peer1" ...); nil draws IDs from the seed.
        public var identityName: String?
    }

    /// The data (peer) port of the uniform topology.
    public static let dataPort: UInt16 = 30_000
    /// The discovery port (TCP lookups and UDP refresh) of the uniform topology.
    public static let discoveryPort: UInt16 = 30_010

    /// The hosts, in index order.
    public var hosts: [HostPlan]
    /// Hosts `0..<protectedHosts` never churn.
    public var protectedHosts: Int
    /// When the last host first starts.
    public var lastJoin: Instant { hosts.map(\.start).max() ?? .zero }

    /// The scenario the options describe.
    public init(_ options: SimulationOptions) {
        switch options.preset {
        case .seed12: self = Self.seed12()
        case nil: self = Self.uniform(options)
        }
    }

    init(hosts: [HostPlan], protectedHosts: Int) {
        self.hosts = hosts
        self.protectedHosts = protectedHosts
    }

    /// The address of host `index` under `plan`.
    public static func address(of index: Int, plan: SimulationOptions.AddressPlan) -> IPAddress {
        switch plan {
        case .loopback:
            return .v4(0x7F00_0001 + UInt32(index))
        case .publicSubnets(let perSubnet):
            let perSubnet = max(1, min(254, perSubnet))
            return .v4(0x1400_0000 + UInt32(index / perSubnet) << 8 + UInt32(index % perSubnet) + 1)
        }
    }

    private static func uniform(_ options: SimulationOptions) -> Scenario {
        let count = options.nodeCount
        let seeds = options.effectiveSeedNodes
        let window = options.effectiveJoinWindow
        let addresses = (0..<count).map { address(of: $0, plan: options.addresses) }
        let seedLookups = addresses.prefix(seeds).map { Endpoint.tcp($0, discoveryPort) }
        let hosts = (0..<count).map { index -> HostPlan in
            let address = addresses[index]
            let configuration = NodeConfiguration(
                peerListener: .tcp(address, dataPort), lookupListener: .tcp(address, discoveryPort),
                refreshListener: .udp(address, discoveryPort),
                // Joiners share one array of the seeds' endpoints (a copy each would cost megabytes
                // at 100,000 nodes); a seed bootstraps from the others.
                bootstrapPeers: index < seeds ? seedLookups.filter { $0.address != address } : seedLookups)
            let joiners = count - seeds
            let start = index < seeds || joiners <= 1
                ? Instant.zero
                : Instant(nanoseconds: window.nanoseconds / UInt64(joiners - 1) * UInt64(index - seeds))
            return HostPlan(address: address, configuration: configuration, start: start, identityName: nil)
        }
        return Scenario(hosts: hosts, protectedHosts: seeds)
    }

    /// peer1 seeds; peers 2–6 listen and bootstrap from it; peers 7–12 are outbound-only, start 3 s
    /// later with two or three bootstrap endpoints, and peer8 also dials peer6's data port.
    private static func seed12() -> Scenario {
        let addresses = (0..<12).map { address(of: $0, plan: .loopback) }
        func lookup(_ peer: Int) -> Endpoint { .tcp(addresses[peer - 1], UInt16(30_009 + peer)) }
        let bootstraps: [[Int]] = [[1, 2], [1, 3], [1, 4], [1, 5], [1, 6], [1, 6, 2]]
        var hosts: [HostPlan] = []
        for peer in 1...12 {
            let address = addresses[peer - 1]
            let configuration: NodeConfiguration
            if peer <= 6 {
                configuration = NodeConfiguration(
                    peerListener: .tcp(address, UInt16(29_999 + peer)), lookupListener: lookup(peer),
                    bootstrapPeers: peer == 1 ? [] : [lookup(1)])
            } else {
                configuration = NodeConfiguration(
                    bootstrapPeers: bootstraps[peer - 7].map(lookup),
                    dialPeers: peer == 8 ? [.tcp(addresses[5], 30_005)] : [])
            }
            hosts.append(HostPlan(
                address: address, configuration: configuration, start: peer <= 6 ? .zero : Instant(nanoseconds: 3_000_000_000),
                identityName: "peer\(peer)"))
        }
        return Scenario(hosts: hosts, protectedHosts: 1)
    }
}
