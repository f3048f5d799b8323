import KaryonsCore
import KaryonsSimulation
import Testing

/// Whole runs of real `NodeCore`s on the virtual network, over several seeds per condition, small
/// enough for every CI run. Each asserts the safety verdict (no invariant broke after any event),
/// the liveness verdict, and what the condition must have done to the network.
@Suite("Simulation scenarios")
struct SimulationScenarioTests {
    /// Eight nodes, one seed node, for `seconds` of virtual time; liveness judged 20 s after the
    /// last join or heal.
    private func options(seed: UInt64, seconds: UInt64 = 50) -> SimulationOptions {
        var options = SimulationOptions()
        options.nodes = 8
        options.seed = seed
        options.duration = .seconds(seconds)
        options.settleTime = .seconds(20)
        options.sampleInterval = .seconds(5)
        return options
    }

    private func expectHealthy(_ report: SimulationReport, _ context: String) {
        #expect(report.violations.isEmpty, "\(context): \(report.violations)")
        #expect(report.completed, "\(context)")
        #expect(report.liveness.skippedBecause == nil, "\(context): liveness must be judged")
        #expect(report.liveness.passed, "\(context): \(report.liveness.checks)")
        #expect(report.final.components == 1, "\(context)")
        #expect(report.final.verifiedEntriesMean >= 5, "\(context): \(report.final.verifiedEntriesMean) verified entries")
        // Eight nodes: each connects to most of the other seven, half of them outbound.
        #expect(report.final.peersMean >= 5, "\(context): \(report.final.peersMean) peers")
        #expect(report.final.outboundSlotFillMean > 0.2, "\(context)")
    }

    @Test("clean network: every node finds the others and connects", arguments: [UInt64(1), 2])
    func clean(seed: UInt64) {
        let report = Simulation(options: options(seed: seed)).run()
        expectHealthy(report, "seed \(seed)")
        #expect(report.final.nodesUp == 8)
        #expect(report.network.connectsTimedOut == 0)
        #expect(report.lookupSuccessRate == 1)
    }

    @Test("lossy network: 5% loss, duplication and reordering; still converges", arguments: [UInt64(11), 12])
    func lossy(seed: UInt64) {
        var options = options(seed: seed)
        options.loss = 0.05
        options.duplication = 0.05
        options.reordering = 0.1
        let report = Simulation(options: options).run()
        expectHealthy(report, "seed \(seed)")
        #expect(report.network.datagramsLost > 0 || report.network.datagramsDuplicated > 0)
    }

    @Test("partition that heals: cut traffic during it, merged graph and working lookups after it",
          arguments: [UInt64(21), 22])
    func partitionAndHeal(seed: UInt64) throws {
        var options = options(seed: seed, seconds: 70)
        options.partitions = [try SimulationOptions.parsePartition("50%@10s..30s")]
        let simulation = Simulation(options: options)
        let report = simulation.run()
        expectHealthy(report, "seed \(seed)")
        let crossings = (0..<8).flatMap { a in (0..<8).map { b in (a, b) } }
            .filter { simulation.network.areSeparated($0.0, $0.1, at: .zero + .seconds(15)) }
        try #require(!crossings.isEmpty, "seed \(seed) must split the nodes")
        #expect(report.network.datagramsCut + report.network.connectsTimedOut > 0, "the partition must have cut traffic")
    }

    @Test("churn: nodes leave, crash and come back with old or new identities; the rest stays connected",
          arguments: [UInt64(31), 32])
    func churn(seed: UInt64) {
        var options = options(seed: seed, seconds: 80)
        options.churn = 0.6
        let report = Simulation(options: options).run()
        #expect(report.violations.isEmpty, "seed \(seed): \(report.violations)")
        #expect(report.network.leaves + report.network.crashes > 0)
        #expect(report.network.restarts > 0)
        #expect(report.liveness.skippedBecause == nil)
        #expect(report.liveness.passed, "seed \(seed): \(report.liveness.checks)")
    }

    @Test("seed12 preset: every listening peer is verified in every other table; outbound-only peers are never advertised")
    func seed12() throws {
        var options = SimulationOptions()
        options.preset = .seed12
        options.duration = .seconds(25)
        options.settleTime = .seconds(10)
        let simulation = Simulation(options: options)
        let report = simulation.run()
        #expect(report.violations.isEmpty)
        #expect(report.nodes == 12)
        let listening = Set((1...6).map { SHA256.peerID("peer\($0)") })
        for host in 0..<12 {
            let node = try #require(simulation.network.node(host))
            #expect(node.id == SHA256.peerID("peer\(host + 1)"))
            let known = Set(node.routingTable.entries(matching: .shareable).map(\.id))
            #expect(known == listening.subtracting([node.id]), "peer\(host + 1)")
        }
        #expect(report.final.verifiedEntriesMean == 5.5)
        let peer8 = try #require(simulation.network.node(7))
        #expect(peer8.peers.contains { $0.id == SHA256.peerID("peer6") && $0.direction == .outbound })
    }

    @Test("the same options give the same digest and report; another seed gives another digest")
    func determinism() {
        var options = options(seed: 7, seconds: 30)
        options.loss = 0.02
        options.reordering = 0.05
        options.churn = 0.3
        let first = Simulation(options: options).run()
        let again = Simulation(options: options).run()
        options.seed = 8
        let other = Simulation(options: options).run()
        #expect(first.digest == again.digest)
        #expect(first.samples == again.samples)
        #expect(first.network == again.network)
        #expect(first.json(resources: nil) == again.json(resources: nil))
        #expect(first.digest != other.digest)
    }

    @Test("a failed verdict prints the seed and the command that replays the run")
    func failedVerdictReplays() {
        var options = options(seed: 5, seconds: 40)
        options.lookupSuccessMin = 1.01  // unreachable, so the lookup check fails whenever lookups ended
        let report = Simulation(options: options).run()
        #expect(!report.passed)
        let summary = report.summary(resources: nil)
        #expect(summary.contains("liveness: FAILED"))
        #expect(summary.contains("seed 5; replay with:\n  karyons sim --nodes 8 --seed 5 --duration 40s --sample 5s --settle 20s"))
        guard case .object(let members) = report.json(resources: nil) else {
            Issue.record("the JSON report must be an object")
            return
        }
        #expect(members.first { $0.0 == "passed" }?.1 == .bool(false))
    }
}
