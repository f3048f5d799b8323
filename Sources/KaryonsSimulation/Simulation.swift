import KaryonsCore

/// Where a run stands, for progress reports on long runs.
public struct SimulationProgress: Sendable {
    /// Virtual time reached.
    public var now: Instant
    /// Virtual time the run goes to.
    public var end: Instant
    /// Scheduler events processed.
    public var events: Int
    /// Nodes running.
    public var nodesUp: Int
    /// Violations found so far.
    public var violations: Int
    /// The sample at which the network first converged (`MetricsSample.isConverged`), if it has.
    public var convergedAt: Instant?
}

/// A run of many `NodeCore`s on a `VirtualNetwork`, as `karyons sim` does it: builds the scenario,
/// runs it to `options.duration` with metrics sampled every `options.sampleInterval`, checks the
/// nodes' invariants after every event (unless turned off), judges liveness at the end, and
/// returns a report with the run's digest.
///
/// Identities and seeds: a node's ID is SHA-256 of the plan's identity name (seed12) or drawn from
/// the simulation seed, host and identity generation; its NodeCore seed is derived from the
/// simulation seed, host and incarnation. Nothing else feeds randomness into the run.
public final class Simulation {
    /// The options of the run.
    public let options: SimulationOptions
    /// The hosts.
    public let scenario: Scenario
    /// The network (read it for counters and nodes; set `onNodeEvent` on it to trace).
    public let network: VirtualNetwork<NodeCore>
    /// Metrics sampled so far, oldest first.
    public internal(set) var samples: [MetricsSample] = []
    /// The time of the first sample at which the network converged (`MetricsSample.isConverged`).
    public private(set) var convergedAt: Instant?
    var retired = RetiredTotals()

    /// Scheduler events between progress reports.
    public static let progressEventBudget = 250_000

    /// Builds the network and schedules every node's first start.
    public init(options: SimulationOptions) {
        precondition((1...SimulationLimits.nodesMax).contains(options.nodeCount),
                     "BUG in Karyons: a simulation needs 1...\(SimulationLimits.nodesMax) nodes, not \(options.nodeCount)")
        self.options = options
        let scenario = Scenario(options)
        self.scenario = scenario
        let churn = options.churn > 0
            ? ChurnConfiguration(rate: options.churn, protectedHosts: scenario.protectedHosts, start: scenario.lastJoin)
            : nil
        let link = LinkConditions(
            latency: options.latency, jitter: options.jitter, loss: options.loss, duplication: options.duplication,
            reordering: options.reordering)
        let configuration = NetworkConfiguration(
            seed: options.seed, link: link, partitions: options.partitions, churn: churn,
            checksInvariants: options.checksInvariants, checksConcurrently: options.checksConcurrently)
        let plans = scenario.hosts
        let seed = options.seed
        network = VirtualNetwork(configuration: configuration) { boot in
            let plan = plans[boot.host]
            return NodeCore(
                id: Self.identity(boot, plan: plan, seed: seed), configuration: plan.configuration,
                seed: Self.nodeSeed(boot, seed: seed), now: boot.now)
        }
        network.reserveHosts(plans.count)
        for (index, plan) in plans.enumerated() {
            network.addHost(address: plan.address)
            network.start(index, at: plan.start)
        }
        network.onNodeRetiring = { [unowned self] _, node in self.retired.add(node.statistics) }
    }

    /// The ID a booting node gets.
    static func identity(_ boot: NodeBoot, plan: Scenario.HostPlan, seed: UInt64) -> PeerID {
        if boot.identity == 0, let name = plan.identityName { return SHA256.peerID(name) }
        var rng = SplitMix64(seed: derive(seed, tag: 0x6964_656E_7469_7479, UInt64(boot.host), UInt64(boot.identity)))
        return PeerID.random(using: &rng)
    }

    /// The NodeCore seed of a booting node.
    static func nodeSeed(_ boot: NodeBoot, seed: UInt64) -> UInt64 {
        derive(seed, tag: 0x6E6F_6465_7365_6564, UInt64(boot.host), UInt64(boot.incarnation))
    }

    private static func derive(_ seed: UInt64, tag: UInt64, _ a: UInt64, _ b: UInt64) -> UInt64 {
        mix64(mix64(mix64(seed ^ tag) ^ a) ^ b)
    }

    /// The end of the run.
    public var end: Instant { Instant(nanoseconds: options.duration.nanoseconds) }

    /// Liveness is judged from here to the end: `settleTime` after the last partition heals, or
    /// after the last node joined; nil when that is not before the end.
    public var livenessWindowStart: Instant? {
        let calm = max(options.partitions.map(\.end).max() ?? .zero, scenario.lastJoin)
        let start = calm + options.settleTime
        return start < end ? start : nil
    }

    /// Runs to the end (or to the first violation) and reports.
    public func run(progress: ((SimulationProgress) -> Void)? = nil) -> SimulationReport {
        let interval = max(options.sampleInterval, .milliseconds(1))
        var nextSample = Instant.zero + interval
        let window = livenessWindowStart
        while true {
            var target = min(nextSample, end)
            if let window, window > network.now, window < target { target = window }
            while !network.run(until: target, eventBudget: Self.progressEventBudget) && !network.isHalted {
                progress?(snapshot())
            }
            let sample = takeSample()
            samples.append(sample)
            if convergedAt == nil, sample.isConverged(hostCount: scenario.hosts.count) { convergedAt = sample.time }
            progress?(snapshot())
            if network.isHalted || target >= end { break }
            if options.stopsWhenConverged && convergedAt != nil { break }
            if target == nextSample { nextSample = nextSample + interval }
        }
        return makeReport()
    }

    private func snapshot() -> SimulationProgress {
        SimulationProgress(
            now: network.now, end: end, events: network.counters.events,
            nodesUp: (0..<network.hostCount).reduce(0) { $0 + (network.isUp($1) ? 1 : 0) },
            violations: network.violationCount, convergedAt: convergedAt)
    }

    private func makeReport() -> SimulationReport {
        let final = samples.last ?? takeSample()
        let lookups = final.lookupsSucceeded + final.lookupsFailed
        return SimulationReport(
            options: options, commandLine: options.commandLine, nodes: scenario.hosts.count, digest: network.digest(),
            virtualTime: Duration(nanoseconds: network.now.nanoseconds),
            completed: !network.isHalted && (network.now >= end || options.stopsWhenConverged && convergedAt != nil),
            convergedAt: convergedAt.map { Duration(nanoseconds: $0.nanoseconds) },
            samples: samples, final: final, traffic: trafficTotals(), network: network.counters,
            nodeEvents: network.nodeEvents, violations: network.violations, violationCount: network.violationCount,
            liveness: judgeLiveness(),
            lookupSuccessRate: lookups == 0 ? nil : Double(final.lookupsSucceeded) / Double(lookups))
    }
}
