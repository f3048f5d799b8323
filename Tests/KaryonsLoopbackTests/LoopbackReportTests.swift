import Foundation
@testable import KaryonsCore
import KaryonsSimulation
import Testing
@testable import KaryonsLoopback

/// The loopback report's text and JSON, from a made-up run (no sockets).
@Suite struct LoopbackReportTests {
    static func sample(
        at seconds: UInt64, up: Int, components: Int, succeeded: Int, failed: Int,
        hops: (counted: Int, total: Int)? = nil, previous: MetricsSample? = nil
    ) -> MetricsSample {
        .measured(
            time: Instant(nanoseconds: seconds * 1_000_000_000), nodeIDs: [], nodesUp: up, routingTableEntriesMean: 20, verifiedEntriesMean: 19.5,
            peersMean: 23, outboundSlotFillMean: 0.95, inboundSlotFillMean: 0.9, components: components,
            largestComponentShare: components == 1 ? 1 : 0.8, lookupsSucceeded: succeeded, lookupsFailed: failed,
            intervalLookupSuccessRate: nil, framesSent: 100 * Int(seconds), bytesSent: 1_000, datagramsSent: 10, events: 50,
            lookupHops: hops, previous: previous)
    }

    static func report(convergedAt: Duration?, isolated: [Int]) throws -> LoopbackReport {
        var options = LoopbackOptions()
        options.simulation.nodes = 40
        options.simulation.duration = .seconds(20)
        options.firstAddress = IPAddress("127.9.0.1")!
        let budget = try DescriptorBudget.fit(DescriptorBudgetTests.uniform(40), limit: 20_000, reserved: 64, lookupSlots: nil)
        return LoopbackReport(
            options: options, budget: budget, nodes: 40, elapsed: .seconds(20),
            samples: [sample(at: 10, up: 30, components: 3, succeeded: 90, failed: 10), sample(at: 20, up: 40, components: 1, succeeded: 190, failed: 10)],
            traffic: TrafficTotals(adding: []), convergedAt: convergedAt, descriptorsPeak: 1_234, samplingTime: .milliseconds(40),
            isolatedHosts: isolated, lookupFailureReasons: [("timed out awaiting pong", 7), ("remote shut down (noFreeSlot)", 3)],
            violations: [], violationCount: 0,
            liveness: .judged(windowStart: nil, skippedBecause: "the run ends less than 1m after the last join", checks: []))
    }

    @Test func theSummaryNamesConvergenceBudgetFailuresAndIsolatedNodes() throws {
        let text = try Self.report(convergedAt: .seconds(20), isolated: [7, 31]).summary(resources: nil)
        #expect(text.hasPrefix("karyons sim --real: 40 nodes on 127.9.0.1...127.9.0.40, one reactor, seed 1, 20.0 s of 20s wall"))
        #expect(text.contains("converged after 20.0 s wall"))
        #expect(text.contains("40 / 40"))
        #expect(text.contains("190 / 10  95.0% ok"))
        #expect(text.contains("lookups failed by reason: timed out awaiting pong 7, remote shut down (noFreeSlot) 3"))
        #expect(text.contains("nodes without a peer at the end: 2 (hosts 7, 31)"))
        #expect(text.contains("descriptors: budget 40 x [3 listeners + 24 peer slots (12 in, 12 out) + 40 lookup slots (20 in, 20 out) = 67] = 2,680 of 19,936"))
        #expect(text.contains("peak open at a sample: 1,234"))
        #expect(text.contains("liveness: not judged"))
        #expect(!text.contains("lookup slots lowered"))
        #expect(!text.contains("OVER the budget"))
    }

    @Test func lookupHopsAreReportedPerSampleAndForTheRun() throws {
        let first = Self.sample(at: 10, up: 40, components: 1, succeeded: 90, failed: 0, hops: (counted: 90, total: 360))
        let second = Self.sample(at: 20, up: 40, components: 1, succeeded: 100, failed: 0, hops: (counted: 100, total: 410), previous: first)
        #expect(first.intervalLookupHopsMean == 4)
        #expect(second.intervalLookupHopsMean == 5, "(410 - 360) hops over (100 - 90) lookups since the previous sample")
        var report = try Self.report(convergedAt: .seconds(20), isolated: [])
        report.samples = [first, second]
        var statistics = NodeStatistics()
        statistics.lookupsSucceeded = 100
        statistics.lookupHops = 410
        report.traffic = TrafficTotals(adding: [statistics])
        let summary = report.summary(resources: nil)
        #expect(summary.contains("lookup hops (mean)"))
        #expect(summary.contains("5.00"))
        #expect(summary.contains("4.10"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json(resources: nil).serialized().utf8)) as? [String: Any])
        #expect(object["lookupHops"] as? Double == 4.1)
        let samples = try #require(object["samples"] as? [[String: Any]])
        #expect(samples.map { $0["intervalLookupHopsMean"] as? Double } == [4, 5])
    }

    @Test func morePeakDescriptorsThanTheBudgetAreFlagged() throws {
        var report = try Self.report(convergedAt: .seconds(20), isolated: [])
        #expect(report.descriptorsWithinBudget)
        report.descriptorsPeak = report.budget.required + report.budget.reserved
        #expect(report.descriptorsWithinBudget)
        report.descriptorsPeak = report.budget.required + report.budget.reserved + 1
        #expect(!report.descriptorsWithinBudget)
        #expect(report.summary(resources: nil).contains("OVER the budget plus the reserve"))
    }

    @Test func anUnconvergedRunSaysSo() throws {
        let report = try Self.report(convergedAt: nil, isolated: [])
        #expect(report.summary(resources: nil).contains("not converged"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json(resources: nil).serialized().utf8)) as? [String: Any])
        #expect(object["convergedSeconds"] is NSNull)
        #expect(object["digest"] is NSNull)
        #expect(object["lookupSuccessRate"] as? Double == 0.95)
        #expect((object["isolatedHosts"] as? [Int]) == [])
        #expect((object["lookupFailureReasons"] as? [String: Int]) == ["timed out awaiting pong": 7, "remote shut down (noFreeSlot)": 3])
        #expect((object["samples"] as? [Any])?.count == 2)
        #expect((object["descriptors"] as? [String: Any])?["peakOpen"] as? Int == 1_234)
        #expect((object["descriptors"] as? [String: Any])?["withinBudget"] as? Bool == true)
        #expect(report.commandLine == "karyons sim --nodes 40 --seed 1 --duration 20s --real --first-address 127.9.0.1")
    }
}
