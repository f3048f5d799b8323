import KaryonsCore

/// The state of the simulated network at one virtual instant, averaged over the nodes that run.
public struct MetricsSample: Hashable, Sendable {
    /// When it was taken.
    public var time: Instant
    /// Nodes running.
    public var nodesUp: Int
    /// Routing-table entries per node (any status).
    public var routingTableEntriesMean: Double
    /// Verified (or connected) entries per node: the ones a node dials and shares.
    public var verifiedEntriesMean: Double
    /// Entries per node that the tables could hold at most, given the running nodes' IDs
    /// (`TableCapacity`): the yardstick for `verifiedEntriesMean`.
    public var tableCapacityMean: Double
    /// Peers per node.
    public var peersMean: Double
    /// Outbound peers / outbound slots, averaged over running nodes (0...1).
    public var outboundSlotFillMean: Double
    /// Inbound peers / inbound slots, averaged over running nodes that listen (0...1).
    public var inboundSlotFillMean: Double
    /// Connected components of the peer graph among running nodes (isolated nodes count).
    public var components: Int
    /// The share of running nodes in the largest component.
    public var largestComponentShare: Double
    /// Lookups that succeeded / failed since the run began (all nodes, all incarnations).
    public var lookupsSucceeded: Int
    public var lookupsFailed: Int
    /// The lookup success rate over the interval since the previous sample (nil: no lookup ended).
    public var intervalLookupSuccessRate: Double?
    /// Frames, frame bytes and datagrams sent since the run began.
    public var framesSent: Int
    public var bytesSent: Int
    public var datagramsSent: Int
    /// Scheduler events processed since the run began.
    public var events: Int
    /// Lookup sessions the nodes counted as succeeded, and their hops summed, since the run began.
    public var lookupHopsCounted = 0
    public var lookupHops = 0
    /// Mean hops of the lookups that succeeded since the previous sample (nil: none did).
    public var intervalLookupHopsMean: Double?
    /// Running nodes whose routing table holds no verified (or connected) entry.
    public var nodesWithoutVerifiedEntry = 0

    /// The share of what the tables can hold that a converged network has verified (issue 6's
    /// yardstick: a 10,000-node network converges when it reaches this and one component).
    public static let convergedVerifiedShareMin = 0.9

    /// Converged: connected (`isConnected`, verified entries required), and the verified entries
    /// reach `convergedVerifiedShareMin` of what the tables can hold.
    public func isConverged(hostCount: Int) -> Bool {
        isConnected(hostCount: hostCount, requiringVerifiedEntries: true)
            && verifiedEntriesMean >= Self.convergedVerifiedShareMin * tableCapacityMean
    }

    /// All `hostCount` hosts run, the peer graph is one component, and (if required) every node
    /// knows a verified entry: a real run's convergence, and the start of a virtual run's.
    public func isConnected(hostCount: Int, requiringVerifiedEntries: Bool) -> Bool {
        nodesUp == hostCount && components == 1 && (!requiringVerifiedEntries || nodesWithoutVerifiedEntry == 0)
    }
}

/// Counters of nodes that are gone (crashed, stopped, restarted), so run totals include them.
struct RetiredTotals {
    var framesSent = [Int](repeating: 0, count: MessageKind.allCases.count)
    var bytesSent = 0
    var datagramsSent = 0
    var dialsStarted = 0
    var dialsSucceeded = 0
    var dialFailures = [Int](repeating: 0, count: DialFailureKind.allCases.count)
    var lookupsSucceeded = 0
    var lookupHops = 0

    mutating func add(_ statistics: NodeStatistics) {
        for (index, kind) in MessageKind.allCases.enumerated() { framesSent[index] += statistics.framesSent(kind) }
        bytesSent += statistics.bytesSent
        datagramsSent += statistics.datagramsSent
        dialsStarted += statistics.dialsStarted
        dialsSucceeded += statistics.dialsSucceeded
        for kind in DialFailureKind.allCases { dialFailures[kind.rawValue] += statistics.dialFailures(kind) }
        lookupsSucceeded += statistics.lookupsSucceeded
        lookupHops += statistics.lookupHops
    }
}

/// Union-find over host indices (path halving, union by size), for the peer graph's components.
struct UnionFind {
    private var parent: [Int]
    private var size: [Int]

    init(count: Int) {
        parent = Array(0..<count)
        size = [Int](repeating: 1, count: count)
    }

    mutating func root(_ element: Int) -> Int {
        var current = element
        while parent[current] != current {
            parent[current] = parent[parent[current]]
            current = parent[current]
        }
        return current
    }

    mutating func union(_ a: Int, _ b: Int) {
        var rootA = root(a)
        var rootB = root(b)
        guard rootA != rootB else { return }
        if size[rootA] < size[rootB] { swap(&rootA, &rootB) }
        parent[rootB] = rootA
        size[rootA] += size[rootB]
    }

    mutating func componentSize(_ element: Int) -> Int { size[root(element)] }
}

/// Totals over a run: frames by kind, bytes and datagrams, live nodes plus retired ones.
public struct TrafficTotals: Hashable, Sendable {
    /// Frames sent per message kind, in `MessageKind.allCases` order.
    public var framesByKind: [(kind: MessageKind, count: Int)] {
        MessageKind.allCases.enumerated().map { ($1, frames[$0]) }
    }
    /// Frames sent per message kind, indexed like `MessageKind.allCases`.
    public var frames: [Int]
    public var bytesSent: Int
    public var datagramsSent: Int
    public var framesSent: Int { frames.reduce(0, +) }
    /// Peer dials started, dials that produced an outbound peer, and failed dials by reason
    /// (indexed by `DialFailureKind.rawValue`).
    public var dialsStarted = 0
    public var dialsSucceeded = 0
    public var dialFailures: [Int] = []
    /// Lookup sessions the nodes counted as succeeded, and their hops summed.
    public var lookupsSucceeded = 0
    public var lookupHops = 0
    /// Mean hops per succeeded lookup (nil: none).
    public var lookupHopsMean: Double? { lookupsSucceeded == 0 ? nil : Double(lookupHops) / Double(lookupsSucceeded) }
}

extension Simulation {
    /// Measures the running nodes now.
    func takeSample() -> MetricsSample {
        var nodesUp = 0, listening = 0
        var entries = 0, verified = 0, peers = 0, withoutVerified = 0
        var outboundFill = 0.0, inboundFill = 0.0
        var components = peerGraph()
        var ids: [PeerID] = []
        for host in 0..<network.hostCount {
            network.withNode(host) { node in
                nodesUp += 1
                ids.append(node.id)
                let table = node.routingTable
                entries += table.count
                let shareable = table.count(matching: .shareable)
                verified += shareable
                if shareable == 0 { withoutVerified += 1 }
                let slots = node.configuration.slots
                var inbound = 0, outbound = 0
                node.forEachPeer { _, direction in
                    switch direction {
                    case .inbound: inbound += 1
                    case .outbound: outbound += 1
                    }
                }
                peers += inbound + outbound
                outboundFill += slots.outbound > 0 ? Double(outbound) / Double(slots.outbound) : 0
                if node.configuration.peerListener != nil {
                    listening += 1
                    inboundFill += slots.inbound > 0 ? Double(inbound) / Double(slots.inbound) : 0
                }
            }
        }
        var roots = Set<Int>()
        var largest = 0
        for host in 0..<network.hostCount where network.isUp(host) {
            roots.insert(components.root(host))
            largest = max(largest, components.componentSize(host))
        }
        let traffic = trafficTotals()
        let succeeded = network.nodeEvents[.lookupSucceeded]
        let failed = network.nodeEvents[.lookupFailed]
        let previous = samples.last
        let intervalEnded = (succeeded - (previous?.lookupsSucceeded ?? 0)) + (failed - (previous?.lookupsFailed ?? 0))
        func mean(_ total: Double, _ count: Int) -> Double { count == 0 ? 0 : total / Double(count) }
        var sample = MetricsSample(
            time: network.now, nodesUp: nodesUp,
            routingTableEntriesMean: mean(Double(entries), nodesUp), verifiedEntriesMean: mean(Double(verified), nodesUp),
            tableCapacityMean: TableCapacity.mean(of: ids),
            peersMean: mean(Double(peers), nodesUp), outboundSlotFillMean: mean(outboundFill, nodesUp),
            inboundSlotFillMean: mean(inboundFill, listening), components: roots.count,
            largestComponentShare: mean(Double(largest), nodesUp),
            lookupsSucceeded: succeeded, lookupsFailed: failed,
            intervalLookupSuccessRate: intervalEnded == 0
                ? nil : Double(succeeded - (previous?.lookupsSucceeded ?? 0)) / Double(intervalEnded),
            framesSent: traffic.framesSent, bytesSent: traffic.bytesSent, datagramsSent: traffic.datagramsSent,
            events: network.counters.events)
        sample.nodesWithoutVerifiedEntry = withoutVerified
        sample.recordLookupHops(counted: traffic.lookupsSucceeded, total: traffic.lookupHops, previous: previous)
        return sample
    }

    /// Frames by kind, bytes and datagrams sent by every node so far, retired incarnations included.
    func trafficTotals() -> TrafficTotals {
        var totals = retired
        for host in 0..<network.hostCount {
            network.withNode(host) { totals.add($0.statistics) }
        }
        return TrafficTotals(totals)
    }
}
