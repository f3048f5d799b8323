import KaryonsCore
import KaryonsNode
import KaryonsSimulation

/// Where a loopback run stands, at each sample (for progress lines).
public struct LoopbackProgress: Sendable {
    /// Wall time since the run started, and the run's length.
    public var elapsed: Duration
    public var duration: Duration
    /// The sample just taken.
    public var sample: MetricsSample
    /// Descriptors open in the process now, if known.
    public var descriptorsOpen: Int?
}

/// `karyons sim --real`: the scenario of a virtual run on real loopback sockets, every node a
/// `NodeCore` driven by its own `NodeDriver`, all on one `Reactor` on the calling thread.
///
/// `init` raises the descriptor soft limit to the hard limit (unless `options.descriptorLimit` is
/// given) and plans the run within it, or refuses (`LoopbackError`). `run()` starts each node at
/// its scenario time (wall time from the run's start), samples the nodes every
/// `sampleInterval` (metrics, invariants, open descriptors), ends at `duration` (or at convergence
/// when `stopsWhenConverged`), and reports. A node that cannot open a listener ends the run with
/// `.listenFailed`.
public final class LoopbackRun {
    /// The options of the run.
    public let options: LoopbackOptions
    /// The hosts and the descriptor budget.
    public let plan: LoopbackPlan
    /// Called on the loop thread after every sample.
    public var onProgress: ((LoopbackProgress) -> Void)?
    /// Called on the loop thread with every node event (host index, event).
    public var onNodeEvent: ((Int, NodeEvent) -> Void)?

    /// The started nodes by host index (nil: not started).
    private(set) var nodes: [LoopbackNode?]
    private var hostOfID: [PeerID: Int] = [:]
    private var samples: [MetricsSample] = []
    private var sampler = LoopbackSampler()
    private var convergedAt: Duration?
    private var listenFailure: String?
    private var origin = Instant.zero
    private var hasRun = false
    private var samplingTime = Duration.zero

    /// Plans the run, or says why it cannot run.
    public init(options: LoopbackOptions) throws(LoopbackError) {
        self.options = options
        let limit: Int
        if let given = options.descriptorLimit {
            limit = given
        } else {
            limit = try ProcessDescriptors.raiseSoftLimit()
        }
        plan = try LoopbackPlan(options: options, descriptorLimit: limit)
        nodes = Array(repeating: nil, count: plan.hosts.count)
        for host in plan.hosts { hostOfID[host.id] = host.index }
    }

    /// The run's length (wall time).
    public var duration: Duration { options.simulation.duration }

    /// Runs the scenario on the calling thread until its end, and reports. Call it once.
    public func run() throws(LoopbackError) -> LoopbackReport {
        precondition(!hasRun, "BUG in Karyons: a LoopbackRun runs once; make a new one to run again")
        hasRun = true
        let reactor: Reactor
        do {
            reactor = try Reactor()
        } catch {
            throw .reactorFailed("\(error)")
        }
        origin = SystemClock.now()
        for host in plan.hosts {
            _ = reactor.scheduleTimer(at: origin + host.start) { [unowned self] in self.start(host, on: reactor) }
        }
        scheduleSample(on: reactor, at: origin + sampleInterval)
        reactor.run()
        if let listenFailure { throw .listenFailed(listenFailure) }
        return makeReport()
    }

    private var listeningHosts: Int { plan.hosts.filter { $0.configuration.peerListener != nil }.count }

    private var sampleInterval: Duration { max(options.simulation.sampleInterval, .milliseconds(10)) }

    private func start(_ host: LoopbackPlan.Host, on reactor: Reactor) {
        let node = LoopbackNode(host: host, reactor: reactor, onEvent: onNodeEvent) { [unowned self, unowned reactor] failure in
            if self.listenFailure == nil { self.listenFailure = failure }
            reactor.shutdown()
        }
        nodes[host.index] = node
        node.driver.start()
    }

    private func scheduleSample(on reactor: Reactor, at deadline: Instant) {
        let end = origin + duration
        _ = reactor.scheduleTimer(at: min(deadline, end)) { [unowned self] in
            let isLast = self.takeSample(on: reactor) || reactor.now >= end
            if isLast {
                reactor.shutdown()
            } else {
                self.scheduleSample(on: reactor, at: deadline + self.sampleInterval)
            }
        }
    }

    /// Samples the nodes; true when the run should end here (converged and asked to stop).
    private func takeSample(on reactor: Reactor) -> Bool {
        let begun = SystemClock.now()
        let elapsed = reactor.now.duration(since: origin)
        let live = nodes.compactMap { $0 }
        let sample = sampler.measure(
            live, hostCount: nodes.count, hostOfID: hostOfID, at: Instant(nanoseconds: elapsed.nanoseconds),
            previous: samples.last, events: Int(truncatingIfNeeded: reactor.statistics.eventsDispatched))
        samplingTime = samplingTime + SystemClock.now().duration(since: begun)
        samples.append(sample)
        // Converged as the end-of-run liveness properties say, met at once (a verified entry is
        // required only when there are two listening hosts to know).
        if convergedAt == nil, sample.isConnected(hostCount: nodes.count, requiringVerifiedEntries: listeningHosts >= 2) {
            convergedAt = elapsed
        }
        onProgress?(LoopbackProgress(
            elapsed: elapsed, duration: duration, sample: sample, descriptorsOpen: sampler.descriptorsOpenLast))
        return options.stopsWhenConverged && convergedAt != nil
    }

    private func makeReport() -> LoopbackReport {
        let live = nodes.compactMap { $0 }
        let final = samples.last
        let reached = final.map { Duration(nanoseconds: $0.time.nanoseconds) } ?? .zero
        return LoopbackReport(
            options: options, budget: plan.budget, nodes: plan.hosts.count, elapsed: reached, samples: samples,
            traffic: TrafficTotals(adding: live.map(\.driver.statistics)), convergedAt: convergedAt,
            descriptorsPeak: sampler.descriptorsPeak, samplingTime: samplingTime, isolatedHosts: sampler.isolatedHostsLast,
            lookupFailureReasons: Self.merged(live.map(\.lookupFailureReasons)), violations: sampler.violations,
            violationCount: sampler.violationCount, liveness: judgeLiveness(reached: reached))
    }

    /// Counts by reason over all nodes, most frequent first (ties by reason).
    private static func merged(_ tallies: [[String: Int]]) -> [(reason: String, count: Int)] {
        var total: [String: Int] = [:]
        for tally in tallies { total.merge(tally, uniquingKeysWith: +) }
        return total.map { (reason: $0.key, count: $0.value) }.sorted { ($0.count, $1.reason) > ($1.count, $0.reason) }
    }

    /// The liveness checks of a virtual run that apply (no partitions, no churn), judged from
    /// `settleTime` after the last join to the end: lookups in that window succeed, the peer graph
    /// is one component, every node knows a verified entry.
    private func judgeLiveness(reached: Duration) -> LivenessResult {
        let simulation = options.simulation
        let windowStart = plan.lastJoin + simulation.settleTime
        guard let last = samples.last, reached >= windowStart,
            let first = samples.first(where: { $0.time.nanoseconds >= windowStart.nanoseconds })
        else {
            let reason = "the run ends less than \(SimulationOptions.format(simulation.settleTime)) after the last join"
            return LivenessResult.judged(windowStart: nil, skippedBecause: reason, checks: [])
        }
        let succeeded = last.lookupsSucceeded - first.lookupsSucceeded
        let ended = succeeded + last.lookupsFailed - first.lookupsFailed
        let rate = ended == 0 ? 1 : Double(succeeded) / Double(ended)
        let lonely = last.nodesWithoutVerifiedEntry
        let checks: [LivenessResult.Check] = [
            .named(
                "lookups succeed after the joins", passed: rate >= simulation.lookupSuccessMin,
                detail: ended == 0 ? "no lookup ended in the window"
                    : "\(succeeded) of \(ended) (\(ReportFormat.percent(rate))), at least \(ReportFormat.percent(simulation.lookupSuccessMin)) required"),
            .named(
                "peer graph is connected", passed: last.largestComponentShare >= simulation.largestComponentMin,
                detail: "\(ReportFormat.percent(last.largestComponentShare)) of the nodes in the largest of \(last.components) components, "
                    + "at least \(ReportFormat.percent(simulation.largestComponentMin)) required"),
            .named(
                "every node knows a verified peer", passed: listeningHosts < 2 || lonely == 0,
                detail: lonely == 0 ? "all \(last.nodesUp)" : "\(lonely) of \(last.nodesUp) know none"),
        ]
        return LivenessResult.judged(windowStart: Instant(nanoseconds: windowStart.nanoseconds), skippedBecause: nil, checks: checks)
    }
}
