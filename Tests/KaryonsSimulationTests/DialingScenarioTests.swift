import KaryonsCore
import KaryonsSimulation
import Testing

/// The network behaviour targets of issue 6 on small whole runs of real `NodeCore`s, over several
/// seeds each: no dial storm, public addresses with small subnets converge, a 50/50 partition
/// heals within two seeding cycles, and lookups succeed on a lossy, slow network. Each case was
/// chosen so that it failed before the dialing changes (see the s2-dialing report). Invariants are
/// not checked here (see `options`), so `violations` stays empty by construction.
@Suite("Dialing scenarios")
struct DialingScenarioTests {
    private func options(nodes: Int, seed: UInt64, duration: Duration) -> SimulationOptions {
        var options = SimulationOptions()
        options.nodes = nodes
        options.seed = seed
        options.duration = duration
        options.settleTime = .seconds(30)
        options.sampleInterval = .seconds(5)
        // Behaviour targets only: the invariants after every event are the "Simulation scenarios"
        // suite's job, and checking them here would make these runs several times slower.
        options.checksInvariants = false
        return options
    }

    private func frames(_ kind: MessageKind, _ report: SimulationReport) -> Int {
        report.traffic.framesByKind.first { $0.kind == kind }?.count ?? 0
    }

    /// 30 nodes, 6 per /24: per-subnet table limits keep ~5 entries per node and every node caps
    /// inbound connections per subnet. Before: thousands of refused dials for ~150 Veracks and a
    /// split peer graph.
    @Test("public addresses, 6 hosts per subnet: one component, few refused dials", arguments: [UInt64(1), 3])
    func publicSubnets(seed: UInt64) {
        var options = options(nodes: 30, seed: seed, duration: .seconds(120))
        options.addresses = .publicSubnets(hostsPerSubnet: 6)
        let report = Simulation(options: options).run()
        #expect(report.liveness.skippedBecause == nil && report.liveness.passed, "seed \(seed): \(report.liveness.checks)")
        #expect(report.final.components == 1, "seed \(seed)")
        let versions = frames(.version, report), veracks = frames(.verack, report)
        #expect(versions <= 2 * veracks, "seed \(seed): \(versions) Versions for \(veracks) Veracks")
        // Every dial ends connected or failed, bar those in flight at the end (at most one per slot).
        let ended = report.traffic.dialsSucceeded + report.traffic.dialFailures.reduce(0, +)
        #expect(ended <= report.traffic.dialsStarted && report.traffic.dialsStarted - ended <= 30 * 12, "seed \(seed)")
        let refused = report.traffic.dialFailures[DialFailureKind.remoteFull.rawValue]
        #expect(refused <= report.traffic.dialsStarted && refused < 1_000, "seed \(seed): \(refused) refused dials")
    }

    /// A 50/50 partition long enough for each side's tables to fill with its own nodes (30 nodes:
    /// more than a bucket holds). Target: one component again within two seeding cycles
    /// (`seedingInterval`, 60 s) of the heal. Before: two components to the end.
    @Test("partition 50% for 2 minutes: one component within two seeding cycles of the heal",
          arguments: [UInt64(1), 2])
    func partitionHeals(seed: UInt64) throws {
        var options = options(nodes: 30, seed: seed, duration: .seconds(240))
        options.partitions = [try SimulationOptions.parsePartition("50%@1m..3m")]
        let report = Simulation(options: options).run()
        let heal = Instant(nanoseconds: 180_000_000_000)
        let split = report.samples.contains { $0.time > Instant(nanoseconds: 100_000_000_000) && $0.time < heal && $0.components > 1 }
        #expect(split, "seed \(seed): the partition must split the peer graph")
        let cycles = NodeConfiguration().discovery.seedingInterval * 2
        let merged = report.samples.first { $0.time >= heal && $0.components == 1 }
        let mergedAt = try #require(merged?.time, "seed \(seed): never one component after the heal")
        #expect(mergedAt.duration(since: heal) <= cycles, "seed \(seed): merged \(mergedAt.duration(since: heal)) after the heal")
        #expect(report.samples.filter { $0.time >= mergedAt }.allSatisfy { $0.components == 1 }, "seed \(seed)")
        #expect(report.liveness.passed, "seed \(seed): \(report.liveness.checks)")
    }

    /// 10% loss and 80 ms latency on every link: lookups (seeding sessions) succeed at >= 99%.
    @Test("10% loss, 80 ms latency: lookups succeed at 99% or more", arguments: [UInt64(1), 2])
    func lossyLookups(seed: UInt64) {
        var options = options(nodes: 20, seed: seed, duration: .seconds(120))
        options.loss = 0.1
        options.latency = .milliseconds(80)...Duration.milliseconds(80)
        let report = Simulation(options: options).run()
        let rate = report.lookupSuccessRate ?? 0
        #expect(rate >= 0.99, "seed \(seed): lookup success \(rate)")
        #expect(report.final.components == 1 && report.liveness.passed, "seed \(seed): \(report.liveness.checks)")
        // The random lookups, then at most `selfLookupRoundsMax` self-lookup rounds.
        let hopsMax = Double(1 + NodeConfiguration().discovery.selfLookupRoundsMax)
        #expect(report.traffic.lookupHopsMean.map { $0 >= 1 && $0 <= hopsMax } == true, "seed \(seed)")
    }

    /// Churn on a network that must keep redialling: the pacing never stalls refilling.
    @Test("churn 10%/min: the rest stays connected without a dial storm", arguments: [UInt64(5)])
    func churnWithoutStorm(seed: UInt64) {
        var options = options(nodes: 20, seed: seed, duration: .seconds(150))
        options.churn = 0.1
        let report = Simulation(options: options).run()
        #expect(report.network.crashes + report.network.leaves > 0)
        #expect(report.liveness.passed, "seed \(seed): \(report.liveness.checks)")
        let versions = frames(.version, report), veracks = frames(.verack, report)
        #expect(versions <= 2 * veracks, "seed \(seed): \(versions) Versions for \(veracks) Veracks")
    }
}
