import KaryonsCore

// Public pieces for running a `Scenario` outside the virtual network (KaryonsLoopback runs it on
// real sockets): the identities and seeds the virtual run gives its nodes, and initialisers for the
// metric types, so both runs report in the same types and field names.

extension Simulation {
    /// The identity host `host` of `plan` boots with first in a virtual run of `seed`.
    public static func firstIdentity(host: Int, plan: Scenario.HostPlan, seed: UInt64) -> PeerID {
        identity(firstBoot(host: host, plan: plan), plan: plan, seed: seed)
    }

    /// The NodeCore seed host `host` boots with first in a virtual run of `seed`.
    public static func firstNodeSeed(host: Int, plan: Scenario.HostPlan, seed: UInt64) -> UInt64 {
        nodeSeed(firstBoot(host: host, plan: plan), seed: seed)
    }

    private static func firstBoot(host: Int, plan: Scenario.HostPlan) -> NodeBoot {
        NodeBoot(host: host, address: plan.address, incarnation: 0, identity: 0, now: plan.start)
    }
}

extension MetricsSample {
    /// A sample measured elsewhere (a real run); the fields mean what they mean in a virtual run.
    public static func measured(
        time: Instant, nodeIDs: [PeerID], nodesUp: Int, routingTableEntriesMean: Double, verifiedEntriesMean: Double, peersMean: Double,
        outboundSlotFillMean: Double, inboundSlotFillMean: Double, components: Int, largestComponentShare: Double,
        lookupsSucceeded: Int, lookupsFailed: Int, intervalLookupSuccessRate: Double?, framesSent: Int, bytesSent: Int,
        datagramsSent: Int, events: Int, lookupHops: (counted: Int, total: Int)? = nil, previous: MetricsSample? = nil
    ) -> MetricsSample {
        var sample = MetricsSample(
            time: time, nodesUp: nodesUp, routingTableEntriesMean: routingTableEntriesMean,
            verifiedEntriesMean: verifiedEntriesMean, tableCapacityMean: TableCapacity.mean(of: nodeIDs),
            peersMean: peersMean, outboundSlotFillMean: outboundSlotFillMean,
            inboundSlotFillMean: inboundSlotFillMean, components: components, largestComponentShare: largestComponentShare,
            lookupsSucceeded: lookupsSucceeded, lookupsFailed: lookupsFailed,
            intervalLookupSuccessRate: intervalLookupSuccessRate, framesSent: framesSent, bytesSent: bytesSent,
            datagramsSent: datagramsSent, events: events)
        if let lookupHops { sample.recordLookupHops(counted: lookupHops.counted, total: lookupHops.total, previous: previous) }
        return sample
    }

    /// Sets the run's succeeded lookups and their hops so far, and the mean hops since `previous`.
    mutating func recordLookupHops(counted: Int, total: Int, previous: MetricsSample?) {
        lookupHopsCounted = counted
        lookupHops = total
        let countedSince = counted - (previous?.lookupHopsCounted ?? 0)
        let hopsSince = total - (previous?.lookupHops ?? 0)
        intervalLookupHopsMean = countedSince > 0 ? Double(hopsSince) / Double(countedSince) : nil
    }
}

extension TrafficTotals {
    /// The totals of `statistics`, one per node.
    public init(adding statistics: some Sequence<NodeStatistics>) {
        var totals = RetiredTotals()
        for node in statistics { totals.add(node) }
        self.init(totals)
    }

    /// The totals of a run's nodes, retired ones included.
    init(_ totals: RetiredTotals) {
        self.init(frames: totals.framesSent, bytesSent: totals.bytesSent, datagramsSent: totals.datagramsSent)
        dialsStarted = totals.dialsStarted
        dialsSucceeded = totals.dialsSucceeded
        dialFailures = totals.dialFailures
        lookupsSucceeded = totals.lookupsSucceeded
        lookupHops = totals.lookupHops
    }
}

/// The number formats of the simulation's reports, for reports rendered elsewhere.
public enum ReportFormat {
    /// `value` with `decimals` digits after the point.
    public static func fixed(_ value: Double, _ decimals: Int) -> String { KaryonsSimulation.fixed(value, decimals) }
    /// `1234567` as `1,234,567`.
    public static func grouped(_ value: Int) -> String { KaryonsSimulation.grouped(value) }
    /// `0.975` as `97.5%`.
    public static func percent(_ value: Double) -> String { KaryonsSimulation.percent(value) }
}

extension LivenessResult {
    /// A verdict judged elsewhere (a real run).
    public static func judged(windowStart: Instant?, skippedBecause: String?, checks: [Check]) -> LivenessResult {
        LivenessResult(windowStart: windowStart, skippedBecause: skippedBecause, checks: checks)
    }
}

extension LivenessResult.Check {
    /// One property judged elsewhere.
    public static func named(_ name: String, passed: Bool, detail: String) -> LivenessResult.Check {
        LivenessResult.Check(name: name, passed: passed, detail: detail)
    }
}

/// The connected components of a peer graph over hosts `0..<hostCount` (the union-find the
/// simulation's metrics use).
public struct PeerGraph {
    private var unionFind: UnionFind

    public init(hostCount: Int) { unionFind = UnionFind(count: hostCount) }

    /// Records a link between two hosts.
    public mutating func connect(_ a: Int, _ b: Int) { unionFind.union(a, b) }

    /// A representative of the component of `host` (equal for hosts in the same component).
    public mutating func component(of host: Int) -> Int { unionFind.root(host) }

    /// The number of hosts in the component of `host`.
    public mutating func componentSize(of host: Int) -> Int { unionFind.componentSize(host) }
}
