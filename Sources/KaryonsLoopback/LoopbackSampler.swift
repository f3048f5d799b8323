import KaryonsCore
import KaryonsSimulation

/// Measures the running nodes of a loopback run: the virtual run's `MetricsSample` fields, the
/// nodes' invariants and the process's open descriptors. Loop thread only.
struct LoopbackSampler {
    /// Open descriptors at the last sample and at most, if known.
    private(set) var descriptorsOpenLast: Int?
    private(set) var descriptorsPeak: Int?
    /// Invariant violations found (the first `violationsKeptMax`), and how many in all.
    private(set) var violations: [String] = []
    private(set) var violationCount = 0
    /// Running nodes that had no peer at the last sample, by host index.
    private(set) var isolatedHostsLast: [Int] = []

    static let violationsKeptMax = 100

    /// Measures `live` (the started nodes) as the virtual run's `takeSample` does: means over running
    /// nodes; inbound fill over listening nodes; components of the peer graph among running nodes.
    mutating func measure(
        _ live: [LoopbackNode], hostCount: Int, hostOfID: [PeerID: Int], at time: Instant, previous: MetricsSample?,
        events: Int
    ) -> MetricsSample {
        var listening = 0, entries = 0, verified = 0, peers = 0, withoutVerified = 0, lookupsSucceeded = 0, lookupsFailed = 0
        var outboundFill = 0.0, inboundFill = 0.0
        var graph = PeerGraph(hostCount: hostCount)
        isolatedHostsLast = []
        for node in live {
            let driver = node.driver
            let table = driver.routingTable
            entries += table.count
            let shareable = table.count(matching: .shareable)
            verified += shareable
            if shareable == 0 { withoutVerified += 1 }
            let slots = node.host.configuration.slots
            var inbound = 0, outbound = 0
            for peer in driver.peers {
                switch peer.direction {
                case .inbound: inbound += 1
                case .outbound: outbound += 1
                }
                if let other = hostOfID[peer.id] { graph.connect(node.host.index, other) }
            }
            peers += inbound + outbound
            if inbound + outbound == 0 { isolatedHostsLast.append(node.host.index) }
            outboundFill += slots.outbound > 0 ? Double(outbound) / Double(slots.outbound) : 0
            if node.host.configuration.peerListener != nil {
                listening += 1
                inboundFill += slots.inbound > 0 ? Double(inbound) / Double(slots.inbound) : 0
            }
            lookupsSucceeded += node.lookupsSucceeded
            lookupsFailed += node.lookupsFailed
            record(driver.checkInvariants(), host: node.host.index, at: time)
        }
        var roots = Set<Int>()
        var largest = 0
        for node in live {
            roots.insert(graph.component(of: node.host.index))
            largest = max(largest, graph.componentSize(of: node.host.index))
        }
        countDescriptors()
        let traffic = TrafficTotals(adding: live.map(\.driver.statistics))
        let intervalSucceeded = lookupsSucceeded - (previous?.lookupsSucceeded ?? 0)
        let intervalEnded = intervalSucceeded + lookupsFailed - (previous?.lookupsFailed ?? 0)
        func mean(_ total: Double, _ count: Int) -> Double { count == 0 ? 0 : total / Double(count) }
        var sample = MetricsSample.measured(
            time: time, nodeIDs: live.map(\.host.id), nodesUp: live.count, routingTableEntriesMean: mean(Double(entries), live.count),
            verifiedEntriesMean: mean(Double(verified), live.count), peersMean: mean(Double(peers), live.count),
            outboundSlotFillMean: mean(outboundFill, live.count), inboundSlotFillMean: mean(inboundFill, listening),
            components: roots.count, largestComponentShare: mean(Double(largest), live.count),
            lookupsSucceeded: lookupsSucceeded, lookupsFailed: lookupsFailed,
            intervalLookupSuccessRate: intervalEnded == 0 ? nil : Double(intervalSucceeded) / Double(intervalEnded),
            framesSent: traffic.framesSent, bytesSent: traffic.bytesSent, datagramsSent: traffic.datagramsSent,
            events: events, lookupHops: (traffic.lookupsSucceeded, traffic.lookupHops), previous: previous)
        sample.nodesWithoutVerifiedEntry = withoutVerified
        return sample
    }

    private mutating func record(_ problems: [String], host: Int, at time: Instant) {
        for problem in problems {
            violationCount += 1
            if violations.count < Self.violationsKeptMax {
                violations.append("\(Duration(nanoseconds: time.nanoseconds)) host \(host): \(problem)")
            }
        }
    }

    private mutating func countDescriptors() {
        descriptorsOpenLast = ProcessDescriptors.openCount()
        if let open = descriptorsOpenLast { descriptorsPeak = max(descriptorsPeak ?? 0, open) }
    }
}
