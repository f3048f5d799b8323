import KaryonsCore
@testable import KaryonsSimulation
import Testing

/// Node checks on a second thread (`NetworkConfiguration.checksConcurrently`) must give the run the
/// inline checks give: the same events, the same final state, the same violations in the same
/// order. The nodes are real (churn replaces them while their checks may still be pending) or
/// fakes that report violations on cue, mixed with violations the network finds itself.
@Suite("Invariant checks on a second thread")
struct ConcurrentCheckTests {
    private func simulationOptions(seed: UInt64, concurrently: Bool) -> SimulationOptions {
        var options = SimulationOptions()
        options.nodes = 40
        options.seed = seed
        options.duration = .seconds(150)
        options.loss = 0.02
        options.churn = 0.3
        options.checksConcurrently = concurrently
        return options
    }

    @Test("a simulation with churn and loss: the same digest, samples and violations", arguments: [UInt64(1), 2, 3])
    func sameSimulation(seed: UInt64) {
        let inline = Simulation(options: simulationOptions(seed: seed, concurrently: false)).run()
        let concurrent = Simulation(options: simulationOptions(seed: seed, concurrently: true)).run()
        #expect(inline.network.restarts > 0, "churn restarted nodes while their checks could be pending")
        #expect(concurrent.digest == inline.digest)
        #expect(concurrent.samples == inline.samples)
        #expect(concurrent.violations == inline.violations && concurrent.violationCount == inline.violationCount)
    }

    /// Six fake nodes, four of which report a violation after every step from a time on, and one
    /// that leaves with a connection open (a violation the network records itself, in between).
    private func faultyRun(concurrently: Bool) -> VirtualNetwork<FakeNode> {
        let network = makeFakeNetwork(hosts: 6, stopsAtFirstViolation: false, checksConcurrently: concurrently) { host in
            var options = listeningOptions(host)
            if host >= 2 { options.violationFrom = .ms(UInt64(100 * host)) }
            if host == 1 { options.closesConnectionsOnShutdown = false }
            return options
        }
        for host in 0..<6 { network.start(host, at: .zero) }
        network.run(until: .ms(1))
        network.interact(with: 0) { _ = $0.connect(to: .tcp(testAddress(1), 30_000)) }
        for host in 0..<6 {
            network.interact(with: host) { node in for step in 1...20 { node.setTimer(at: .ms(UInt64(step * 37 + host))) } }
        }
        network.leave(1, at: .ms(350))
        network.run(until: .seconds(1))
        return network
    }

    @Test("fake nodes' violations and the network's own come in the same order, at the same times")
    func sameViolations() {
        let inline = faultyRun(concurrently: false)
        let concurrent = faultyRun(concurrently: true)
        let violations = inline.violations
        #expect(violations.contains { $0.host == 1 && $0.message.contains("still open") })
        #expect(Set(violations.compactMap(\.host)) == [1, 2, 3, 4, 5])
        #expect(concurrent.violations == violations)
        #expect(concurrent.violationCount == inline.violationCount)
        #expect(concurrent.digest() == inline.digest())
    }

    @Test("a violation found on the second thread halts the run, at the latest when run(until:) returns")
    func violationHalts() {
        let network = makeFaultyPair(checksConcurrently: true)
        let finished = network.run(until: .seconds(1))
        #expect(!finished)
        #expect(network.isHalted)
        #expect(network.violations.first == Violation(time: .ms(400), host: 1, message: "injected violation"))
        #expect(network.run(until: .seconds(2)) == false, "a halted run does not go on")
    }

    /// Four fake nodes stepped 1,200 times each, whose checks are slower than their steps: the
    /// checker falls behind, the ring (1,024 checks) fills again and again, and the network runs
    /// checks itself while the checker still works through older ones.
    private func laggingRun(concurrently: Bool) -> VirtualNetwork<FakeNode> {
        let network = makeFakeNetwork(hosts: 4, stopsAtFirstViolation: false, checksConcurrently: concurrently) { host in
            var options = FakeNode.Options()
            options.checkWork = 20_000
            // Violations in the last 50 ms, fewer than the 100 a network keeps.
            if host.isMultiple(of: 2) { options.violationFrom = .ms(UInt64(2_350 + 10 * host)) }
            return options
        }
        for host in 0..<4 { network.start(host, at: .zero) }
        network.run(until: .ms(1))
        for host in 0..<4 {
            network.interact(with: host) { node in
                for step in 1...1_200 { node.setTimer(at: .ms(UInt64(step * 2 + host % 2))) }
            }
        }
        network.run(until: .seconds(3))
        return network
    }

    @Test("a checker slower than the network: each check runs exactly once, and the violations keep their order")
    func laggingChecker() throws {
        let inline = laggingRun(concurrently: false)
        let concurrent = laggingRun(concurrently: true)
        #expect(try #require(concurrent.checker?.checksRunByNetwork) > 0, "the network caught up with the checker")
        for host in 0..<4 {
            let checks = try #require(inline.node(host)?.checksRun)
            #expect(checks > ConcurrentInvariantChecker<FakeNode>.batchSize, "host \(host) stepped past a ring's worth")
            #expect(concurrent.node(host)?.checksRun == checks, "host \(host)")
        }
        #expect(Set(inline.violations.compactMap(\.host)) == [0, 2])
        #expect(concurrent.violations == inline.violations)
        #expect(concurrent.violationCount == inline.violationCount)
    }
}
