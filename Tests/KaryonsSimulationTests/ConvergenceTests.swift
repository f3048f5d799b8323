import KaryonsCore
import KaryonsSimulation
import Testing

/// When a run converged: the first sample with every node up, one peer-graph component, every node
/// knowing a verified entry and 90% of table capacity verified; and `stopsWhenConverged` ending the
/// run there.
@Suite struct ConvergenceTests {
    private func options(seed: UInt64 = 3) -> SimulationOptions {
        var options = SimulationOptions()
        options.nodes = 40
        options.seed = seed
        options.duration = .seconds(150)
        options.sampleInterval = .seconds(2)
        return options
    }

    /// The first sample meeting every criterion, found by reading the samples themselves.
    private func firstConvergedSample(_ samples: [MetricsSample], hosts: Int) -> MetricsSample? {
        samples.first { sample in
            sample.nodesUp == hosts && sample.components == 1 && sample.nodesWithoutVerifiedEntry == 0
                && sample.verifiedEntriesMean >= 0.9 * sample.tableCapacityMean
        }
    }

    @Test(arguments: [UInt64(3), 4])
    func aRunReportsTheFirstSampleAtWhichItConverged(seed: UInt64) throws {
        let report = Simulation(options: options(seed: seed)).run()
        let converged = try #require(firstConvergedSample(report.samples, hosts: 40), "a clean 40-node run converges")
        #expect(report.convergedAt == Duration(nanoseconds: converged.time.nanoseconds))
        #expect(converged.time > report.samples.first!.time, "samples before it were not converged")
        #expect(!report.samples.first!.isConverged(hostCount: 40))
        #expect(report.summary(resources: nil).contains("converged at \(SimulationOptions.format(report.convergedAt!)) virtual"))
        guard case .object(let members) = report.json(resources: nil) else {
            Issue.record("the JSON report is an object")
            return
        }
        #expect(members.contains { $0.0 == "convergedAtSeconds" && $0.1 == .number(report.convergedAt!.seconds) })
    }

    /// The same run asked to stop there ends at that sample, with the same history up to it.
    @Test func untilConvergedEndsTheRunAtThatSample() throws {
        let full = Simulation(options: options()).run()
        var stopping = options()
        stopping.stopsWhenConverged = true
        let stopped = Simulation(options: stopping).run()
        let convergedAt = try #require(full.convergedAt)
        #expect(stopped.convergedAt == convergedAt)
        #expect(stopped.virtualTime == convergedAt)
        #expect(stopped.completed, "stopping where asked is completing the run")
        #expect(stopped.samples == Array(full.samples.prefix(stopped.samples.count)))
        #expect(stopped.commandLine.hasSuffix("--until-converged"))
    }

    /// A partition that never heals keeps two components: never converged, and said so.
    @Test func aNetworkThatStaysCutNeverConverges() throws {
        var options = options()
        options.stopsWhenConverged = true
        options.partitions = [try SimulationOptions.parsePartition("50%@0s..10m")]
        let report = Simulation(options: options).run()
        #expect(report.convergedAt == nil)
        #expect(report.virtualTime == options.duration, "a run that never converges goes to its end")
        #expect(report.summary(resources: nil).contains("not converged at any sample"))
    }
}
