import KaryonsCore
import KaryonsSimulation
import Testing

/// The iterative self-lookup on a whole run: with 500 nodes about two share each node's first ID
/// byte (bucket 30), and only a walk towards our own ID reaches them, since a random node's
/// farthest bucket rarely holds one. Invariants are not checked here (the "Simulation scenarios"
/// suite does), to keep the run a few seconds.
@Suite("Lookup walk scenario")
struct LookupWalkScenarioTests {
    /// 500 nodes for 90 s. Measured (release `karyons sim --nodes 500 --duration 90s
    /// --no-invariants`, seeds 1-5): verified share of capacity 69.4-73.0% with the two-round
    /// seeding session, 89.4-90.7% with the walk (run-mean hops 4.2-4.3, against 2.0).
    @Test("500 nodes: the walk fills the near buckets (verified share of capacity >= 85%)",
          arguments: [UInt64(1), 2])
    func nearBucketsFill(seed: UInt64) {
        var options = SimulationOptions()
        options.nodes = 500
        options.seed = seed
        options.duration = .seconds(90)
        options.sampleInterval = .seconds(10)
        options.checksInvariants = false
        let report = Simulation(options: options).run()
        #expect(report.final.nodesUp == 500 && report.final.components == 1, "seed \(seed)")
        // Bucket 31 alone holds 20: the near buckets must add to what the tables can hold.
        #expect(report.final.tableCapacityMean > 20.5, "seed \(seed): capacity \(report.final.tableCapacityMean)")
        let share = report.verifiedShareOfCapacity
        #expect(share >= 0.85, "seed \(seed): verified share of capacity \(share)")
        #expect(report.lookupSuccessRate == 1, "seed \(seed)")
        // Walking closer takes more than the two rounds of the old session, within the round limit.
        let hopsMax = Double(1 + NodeConfiguration().discovery.selfLookupRoundsMax)
        #expect(report.traffic.lookupHopsMean.map { $0 > 2.5 && $0 <= hopsMax } == true,
                "seed \(seed): hops \(String(describing: report.traffic.lookupHopsMean))")
    }
}
