@testable import KaryonsCore
@testable import KaryonsSimulation
import Testing

/// The checks the simulator runs after every event are cheap (no allocation, no copies, few hash
/// lookups) but must still catch real breakage: each test runs real nodes until peers are
/// established, breaks one node's state on purpose, and expects the violation to be reported at
/// once, with its host and a message naming what broke.
@Suite("Invariant checks catch injected breakage")
struct InvariantCheckTests {
    /// Eight real nodes, run until they hold peers; the checks ran after every event so far.
    private func establishedNetwork(seed: UInt64, concurrently: Bool) -> Simulation {
        var options = SimulationOptions()
        options.checksConcurrently = concurrently
        options.nodes = 8
        options.seed = seed
        options.duration = .seconds(60)
        let simulation = Simulation(options: options)
        simulation.network.run(until: .seconds(20))
        return simulation
    }

    /// Breaks the first node that has an established peer; returns its host.
    private func corruptSomeNode(
        _ network: VirtualNetwork<NodeCore>, _ corruption: NodeCore.TestsOnlyCorruption
    ) throws -> Int {
        for host in 0..<network.hostCount where network.interact(with: host, { $0.testsOnly_corrupt(corruption) }) == true {
            return host
        }
        throw CorruptionFailed()
    }

    private struct CorruptionFailed: Error {}

    @Test("each corruption is reported by the check that follows it", arguments: [
        (NodeCore.TestsOnlyCorruption.releasePoolSlot, "holds no pool slot"),
        (.cancelPeerDeadline, "deadline differs from its machine's"),
        (.dropPeerConnection, "names a dead connection"),
    ])
    func corruptionIsReported(corruption: NodeCore.TestsOnlyCorruption, expected: String) throws {
        for (seed, concurrently): (UInt64, Bool) in [(3, false), (4, false), (3, true), (4, true)] {
            let simulation = establishedNetwork(seed: seed, concurrently: concurrently)
            let network = simulation.network
            #expect(network.violations.isEmpty, "seed \(seed): a sound run reports nothing: \(network.violations)")
            let host = try corruptSomeNode(network, corruption)
            let reported = network.violations.filter { $0.host == host }.map(\.message)
            #expect(reported.contains { $0.contains(expected) }, "seed \(seed), \(corruption): \(reported)")
            #expect(network.isHalted, "the run stops at the first violation")
        }
    }

    @Test("the pool's own check finds a live connection without a slot and a count mismatch")
    func poolCheckFindsMissingSlot() {
        var pool = PeerPool(limits: .init(inbound: 4, outbound: 4, inboundPerSubnet: 2), localID: PeerID(1, 0, 0, 0))
        let held = ConnectionID(slot: 0, generation: 0)
        let stale = ConnectionID(slot: 0, generation: 1)
        pool.openOutbound(held)
        #expect(pool.checkInvariants(live: [held]).isEmpty)
        let problems = pool.checkInvariants(live: [stale])
        #expect(problems.contains { $0.contains("holds no slot") }, "\(problems)")
        #expect(pool.checkInvariants(live: [held, ConnectionID(slot: 1, generation: 0)]).contains {
            $0.contains("slots held by 1 connections, 2 live")
        })
    }
}

/// `TableCapacity` against a brute-force count over every pair of IDs.
@Suite("Table capacity")
struct TableCapacityTests {
    /// For each node: per bucket, the other nodes in it, at most 20; summed.
    private func bruteForceTotal(_ ids: [PeerID]) -> Int {
        var total = 0
        for id in ids {
            var perBucket = [Int](repeating: 0, count: RoutingTable.bucketCount)
            for other in ids where other != id {
                perBucket[RoutingTable.bucketIndex(of: other, relativeTo: id)!] += 1
            }
            total += perBucket.reduce(0) { $0 + min(RoutingTable.bucketEntriesMax, $1) }
        }
        return total
    }

    /// `count` IDs, some of them sharing long prefixes (so that deep buckets fill too).
    private func ids(count: Int, seed: UInt64) -> [PeerID] {
        var rng = SplitMix64(seed: seed)
        var ids: [PeerID] = []
        while ids.count < count {
            let id = PeerID.random(using: &rng)
            ids.append(id)
            if rng.chance(0.3) {
                let base = ids[rng.index(below: ids.count)]
                // Same first 1 to 3 bytes as an earlier ID.
                let kept = UInt64(8 * (1 + rng.index(below: 3)))
                let mask = ~(UInt64.max >> kept)
                ids.append(PeerID(base.word(0) & mask | id.word(0) & ~mask, id.word(1), id.word(2), id.word(3)))
            }
        }
        return Array(Set(ids.prefix(count)))
    }

    @Test("matches the brute-force count", arguments: [(1, 1), (2, 2), (40, 3), (300, 4), (900, 5)])
    func matchesBruteForce(count: Int, seed: UInt64) {
        let ids = ids(count: count, seed: seed)
        let mean = TableCapacity.mean(of: ids)
        #expect(mean == Double(bruteForceTotal(ids)) / Double(ids.count), "\(ids.count) IDs")
    }

    @Test("a large network's tables can hold about two full buckets")
    func largeNetwork() {
        var rng = SplitMix64(seed: 9)
        let ids = (0..<10_000).map { _ in PeerID.random(using: &rng) }
        let mean = TableCapacity.mean(of: ids)
        // Bucket 31 and bucket 30 (about 39 candidates) are full; bucket 29 holds about 0.15.
        #expect(mean > 39 && mean < 41, "\(mean)")
    }
}
