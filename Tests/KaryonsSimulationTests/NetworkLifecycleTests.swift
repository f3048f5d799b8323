import KaryonsCore
import KaryonsSimulation
import Testing

/// Node lifecycle (start, timers, graceful leave, crash, restart, churn), invariant checks and the
/// determinism of whole runs.
@Suite("Virtual network: lifecycle and determinism")
struct NetworkLifecycleTests {
    @Test("a node's timers fire exactly at its deadlines; a restart drops the old incarnation's timers")
    func timersAndRestart() throws {
        let network = makeFakeNetwork(hosts: 1)
        network.start(0, at: .ms(5))
        network.run(until: .ms(5))
        network.interact(with: 0) { node in
            node.setTimer(at: .ms(250))
            node.setTimer(at: .ms(100))
            node.setTimer(at: .ms(3_000))
        }
        network.run(until: .ms(1_000))
        #expect(network.node(0)?.log == [
            Timed(time: .ms(5), record: .started),
            Timed(time: .ms(100), record: .timer),
            Timed(time: .ms(250), record: .timer),
        ])
        network.restart(0, at: .ms(1_500), freshIdentity: true)
        network.run(until: .seconds(5))
        let restarted = try #require(network.node(0))
        #expect(restarted.log == [Timed(time: .ms(1_500), record: .started)], "the 3 s timer belonged to the old node")
        #expect(restarted.boot.incarnation == 1)
        #expect(restarted.boot.identity == 1)
        #expect(network.counters.restarts == 1)
        network.restart(0, at: .seconds(6), freshIdentity: false)
        network.run(until: .seconds(7))
        #expect(network.node(0)?.boot.identity == 1)
        #expect(network.node(0)?.boot.incarnation == 2)
    }

    /// `withNode` and every driving path lend a running node from the start of its Optional (Swift's
    /// single-payload layout) instead of unwrapping it: what they read must be exactly the node the
    /// copying accessor returns, and a host that is down lends nothing.
    @Test("nodes lent in place are the nodes `node(_:)` returns; a down host lends none")
    func nodesLentInPlaceMatchCopies() throws {
        let network = makeFakeNetwork(hosts: 3) { listeningOptions($0) }
        for host in 0..<3 { network.start(host, at: .ms(UInt64(host))) }
        network.run(until: .ms(10))
        _ = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000)) }
        network.restart(1, at: .ms(50), freshIdentity: true)
        network.crash(2, at: .ms(60))
        network.run(until: .ms(500))
        for host in 0..<2 {
            let copy = try #require(network.node(host))
            #expect(network.withNode(host) { $0.log } == copy.log)
            #expect(network.withNode(host) { $0.boot } == copy.boot)
            #expect(!copy.log.isEmpty)
        }
        #expect(network.withNode(1) { $0.boot.identity } == 1)
        #expect(network.node(2) == nil)
        #expect(network.withNode(2) { $0.log } == nil)
    }

    @Test("a graceful leave closes the node's connections (the remote reads FIN) and takes the host down after `.stopped`")
    func gracefulLeave() throws {
        let network = makeFakeNetwork(hosts: 2) { listeningOptions($0) }
        network.start(0, at: .zero)
        network.start(1, at: .zero)
        network.run(until: .ms(1))
        let id = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000)) }!
        network.leave(1, at: .ms(100))
        network.run(until: .ms(200))
        #expect(network.node(0)?.log.last == Timed(time: .ms(110), record: .closed(id, .closedByPeer)))
        #expect(!network.isUp(1))
        #expect(network.violations.isEmpty)
        network.start(1, at: .ms(300))
        network.run(until: .ms(301))
        #expect(network.node(1)?.records.contains(.listening(.peer, .tcp(testAddress(1), 30_000))) == true,
                "the old listener was closed, so the port binds again")
    }

    @Test("stopping with a connection still open is a violation, and the remote end is reset")
    func stopWithOpenConnection() throws {
        var keeper = listeningOptions(1)
        keeper.closesConnectionsOnShutdown = false
        let network = makeFakeNetwork(hosts: 2, stopsAtFirstViolation: false) { $0 == 1 ? keeper : listeningOptions($0) }
        network.start(0, at: .zero)
        network.start(1, at: .zero)
        network.run(until: .ms(1))
        let id = network.interact(with: 0) { $0.connect(to: .tcp(testAddress(1), 30_000)) }!
        network.leave(1, at: .ms(100))
        network.run(until: .ms(200))
        #expect(network.violations.map(\.host) == [1])
        #expect(network.violations.first?.message.contains("still open") == true)
        #expect(network.node(0)?.log.last == Timed(time: .ms(110), record: .closed(id, .reset)))
    }

    @Test("a node's invariant violation is recorded with its host and time, and halts the run")
    func invariantViolationHalts() throws {
        let network = makeFaultyPair(checksConcurrently: false)
        let finished = network.run(until: .seconds(1))
        #expect(!finished)
        #expect(network.violations == [Violation(time: .ms(400), host: 1, message: "injected violation")])
        #expect(network.now == .ms(400), "the run stops right after the event that broke the invariant")
    }

    @Test("random churn takes hosts down and restarts them; protected hosts never churn")
    func randomChurn() throws {
        let churn = ChurnConfiguration(rate: 2, downtime: .seconds(1)...Duration.seconds(3), protectedHosts: 2)
        let configuration = NetworkConfiguration(seed: 9, churn: churn)
        let network = VirtualNetwork<FakeNode>(configuration: configuration) { boot in
            FakeNode(boot: boot, options: listeningOptions(boot.host))
        }
        for index in 0..<20 { network.addHost(address: testAddress(index)) }
        for index in 0..<20 { network.start(index, at: .zero) }
        network.run(until: .seconds(60))
        #expect(network.counters.leaves + network.counters.crashes > 20)
        #expect(network.counters.restarts > 10)
        #expect(network.counters.leaves > 0 && network.counters.crashes > 0)
        #expect(network.incarnation(of: 0) == 0 && network.incarnation(of: 1) == 0)
        #expect((2..<20).contains { network.incarnation(of: $0) > 0 })
        #expect(network.violations.isEmpty)
    }

    @Test("the same seed gives the same run bit for bit; another seed gives another run", arguments: [UInt64(1), 42, 1_000])
    func determinism(seed: UInt64) {
        let first = chattyRun(seed: seed)
        let again = chattyRun(seed: seed)
        let other = chattyRun(seed: seed + 1)
        #expect(first.digest == again.digest)
        #expect(first.counters == again.counters)
        #expect(first.digest != other.digest)
        #expect(first.counters.bytesDelivered > 1_000, "the run must carry real traffic")
        #expect(first.counters.datagramsLost > 0 && first.counters.datagramsDuplicated > 0 && first.counters.datagramsCut > 0)
        #expect(first.counters.crashes + first.counters.leaves > 0)
    }

    /// Twelve chatty hosts for 10 virtual seconds with loss, duplication, reordering, jitter, a
    /// partition and churn.
    private func chattyRun(seed: UInt64) -> (digest: UInt64, counters: NetworkCounters) {
        let link = LinkConditions(
            latency: .milliseconds(5)...Duration.milliseconds(60), jitter: .milliseconds(10), loss: 0.05, duplication: 0.05,
            reordering: 0.1)
        let configuration = NetworkConfiguration(
            seed: seed, link: link, partitions: [Partition(fraction: 0.4, start: .seconds(3), end: .seconds(6))],
            churn: ChurnConfiguration(rate: 0.5, downtime: .seconds(1)...Duration.seconds(4), protectedHosts: 1))
        let hosts = 12
        let network = VirtualNetwork<ChattyNode>(configuration: configuration) { boot in
            ChattyNode(boot: boot, hostCount: hosts, seed: seed)
        }
        for index in 0..<hosts { network.addHost(address: testAddress(index)) }
        for index in 0..<hosts { network.start(index, at: .ms(UInt64(index) * 10)) }
        network.run(until: .seconds(10))
        #expect(network.violations.isEmpty)
        return (network.digest(), network.counters)
    }
}

@Suite("Event queue and stable hashing")
struct SchedulerTests {
    @Test("events pop in time order, equal times in insertion order", arguments: [UInt64(1), 2, 3, 4, 5])
    func heapOrder(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        var queue = EventQueue<Int>()
        var reference: [(time: UInt64, order: Int)] = []
        var popped: [Int] = []
        var expected: [Int] = []
        for order in 0..<500 {
            let time = rng.uniform(below: 50)
            queue.push(order, at: Instant(nanoseconds: time))
            reference.append((time, order))
            if rng.chance(0.3), let entry = queue.pop() {
                popped.append(entry.payload)
                let next = reference.enumerated().min { ($0.element.time, $0.element.order) < ($1.element.time, $1.element.order) }!
                expected.append(next.element.order)
                reference.remove(at: next.offset)
            }
        }
        while let entry = queue.pop() { popped.append(entry.payload) }
        expected += reference.sorted { ($0.time, $0.order) < ($1.time, $1.order) }.map(\.order)
        #expect(popped == expected)
        #expect(queue.isEmpty)
    }

    @Test("FNV-1a 64 matches the published test vectors")
    func fnvVectors() {
        func hash(_ text: String) -> String {
            var hasher = StableHasher()
            hasher.combine(bytes: text.utf8)
            return hasher.hexDigest
        }
        #expect(hash("") == "cbf29ce484222325")
        #expect(hash("a") == "af63dc4c8601ec8c")
        #expect(hash("foobar") == "85944171f73967e8")
    }
}
