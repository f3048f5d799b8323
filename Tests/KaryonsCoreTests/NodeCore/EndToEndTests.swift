import Testing

@testable import KaryonsCore

/// Whole nodes with both halves live, on the shared `TestNetwork` (virtual time, deterministic):
/// discovery fills tables and slots, peers connect, and faults are healed.
@Suite struct EndToEndTests {
    /// The 12-peer topology converges: every listening node is verified in every table and every node
    /// is connected to every node it can reach (all its outbound candidates dialled and kept). The
    /// time is measured in virtual time from the first node's start; it is bounded well below the
    /// 12 s the discovery test waits.
    @Test(arguments: [UInt64(1), 2, 3])
    func twelvePeersConvergeAndFillTheirSlots(seed: UInt64) throws {
        var (network, ids) = TestNetwork.twelvePeerTopology(seed: seed)
        let listening = Set(ids[0..<6])
        let converged = network.run(until: sec(30), step: .milliseconds(100)) { network in
            ids.indices.allSatisfy { index in
                let verified = Set(network.nodes[index].routingTable.entries(matching: .shareable).map(\.id))
                let reachable = index < 6 ? Set(ids).subtracting([ids[index]]) : listening
                return verified == listening.subtracting([ids[index]])
                    && network.isConnected(index, toExactly: reachable)
            }
        }
        #expect(network.problems == [])
        let time = try #require(converged, "seed \(seed): the network never converged")
        print("twelve-peer topology, seed \(seed): converged at \(time) (virtual)")
        #expect(time <= sec(8))
        // Outbound-only nodes took 6 outbound slots each; every slot is a live peer, none pending.
        for index in 6..<12 {
            let dialer = network.nodes[index].testsOnly_discovery.dialer
            #expect(dialer.usedSlots == 6 && dialer.tableDials.allSatisfy(\.isConnected))
        }
    }

    /// Short refresh settings: a 10 s round, one probe retry, eviction after 3 failed refreshes.
    static func shortRefresh(_ configuration: inout NodeConfiguration) {
        configuration.discovery.refreshInterval = .seconds(10)
        configuration.discovery.refreshRetries = 1
        configuration.discovery.refreshFailuresMax = 3
    }

    /// Five listening nodes seeded from node 0; `change` adjusts each configuration.
    static func fiveNodes(seed: UInt64, _ change: (Int, inout NodeConfiguration) -> Void = { _, _ in })
        -> (TestNetwork, [PeerID])
    {
        var rng = SplitMix64(seed: seed)
        var network = TestNetwork()
        var ids: [PeerID] = []
        for index in 0..<5 {
            var configuration = NodeConfiguration(
                peerListener: .tcp(.loopbackV4, UInt16(32000 + index)),
                lookupListener: .tcp(.loopbackV4, UInt16(32100 + index)),
                bootstrapPeers: index == 0 ? [] : [.tcp(.loopbackV4, 32100)])
            change(index, &configuration)
            ids.append(PeerID.random(using: &rng))
            _ = network.add(id: ids[index], configuration: configuration, seed: rng.next())
        }
        return (network, ids)
    }

    /// A node that crashes (its connections reset, it never answers again) is evicted by every other
    /// node after 3 failures (`refreshFailuresMax`: failed redials count once, then failed refresh
    /// rounds), and nobody stays connected to it.
    @Test(arguments: [UInt64(7), 8])
    func crashedNodeIsEvictedAfterThreeFailures(seed: UInt64) throws {
        var (network, ids) = Self.fiveNodes(seed: seed) { _, configuration in Self.shortRefresh(&configuration) }
        for index in 0..<5 { network.start(index) }
        network.run(until: sec(5))
        let crashed = 3
        #expect((0..<5).filter { $0 != crashed }.allSatisfy { network.nodes[$0].routingTable.entry(for: ids[crashed]) != nil })
        network.crash(crashed)
        let survivors = (0..<5).filter { $0 != crashed }
        let evicted = network.run(until: sec(120), step: .milliseconds(500)) { network in
            survivors.allSatisfy { network.nodes[$0].routingTable.entry(for: ids[crashed]) == nil }
        }
        #expect(network.problems == [])
        let time = try #require(evicted, "seed \(seed): the crashed node was never evicted")
        print("crash eviction, seed \(seed): all survivors evicted it at \(time) (crash at 5 s)")
        for index in survivors {
            #expect(network.events(index).contains(.entryEvicted(ids[crashed])), "node \(index)")
            #expect(!network.nodes[index].peers.contains { $0.id == ids[crashed] })
        }
        // The redials that fail right after the crash mark the entry failed once; two refresh rounds
        // (10 s apart) add the next failures. Not before the first round, not after the third.
        #expect(time >= sec(5) + .seconds(10) && time <= sec(5) + .seconds(35))
    }

    /// Every bootstrap node is down when a node starts: it backs off (seeding again and again, never
    /// giving up) and joins once one comes up.
    @Test func nodeBacksOffWhileBootstrapsAreDownThenJoins() throws {
        var (network, ids) = Self.fiveNodes(seed: 11)
        network.start(4)
        network.run(until: sec(20))
        let backoffs = network.events(4).filter { if case .seedingBackoff = $0 { return true } else { return false } }
        #expect(backoffs.count >= 3, "the node keeps seeding with a backoff: \(backoffs)")
        #expect(network.nodes[4].peers.isEmpty)
        network.start(0)
        let joined = network.run(until: sec(120), step: .milliseconds(100)) { network in
            network.nodes[4].peers.map(\.id) == [ids[0]]
        }
        #expect(network.problems == [])
        let time = try #require(joined, "the node never joined")
        print("bootstraps down at start: joined at \(time), the seed started at 20 s")
        // The seeding backoff doubles from 0.5 s; by 20 s it waits ≤ 16 s, then at most 60 s.
        #expect(time <= sec(20) + .seconds(61))
    }

    /// A peer that stops answering pings (it stops reading) is dropped after 3 misses, and discovery
    /// fills the freed outbound slot with another node.
    @Test func silentPeerIsDroppedAfterThreeMissedPingsAndTheSlotRefilled() throws {
        var (network, ids) = Self.fiveNodes(seed: 21) { index, configuration in
            guard index == 4 else { return }
            configuration.peerListener = nil
            configuration.lookupListener = nil
            configuration.slots.outbound = 1
            configuration.peers.pingInterval = .seconds(2)
            configuration.peers.pingTimeout = .seconds(1)
        }
        for index in 0..<5 { network.start(index) }
        network.run(until: sec(5))
        let first = try #require(network.nodes[4].peers.first, "node 4 took its one outbound slot")
        let silent = try #require(ids.firstIndex(of: first.id))
        network.deaf.insert(silent)
        let refilled = network.run(until: sec(60), step: .milliseconds(100)) { network in
            network.nodes[4].peers.count == 1 && network.nodes[4].peers[0].id != first.id
        }
        #expect(network.problems == [])
        #expect(network.events(4).contains(.peerRemoved(first.id, .pingTimeout)))
        let time = try #require(refilled, "the slot was never refilled")
        print("silent peer: dropped and slot refilled by \(time) (silent from 5 s)")
        // Three misses take at least 3 intervals of 2 s.
        #expect(time >= sec(5) + .seconds(6))
    }
}
