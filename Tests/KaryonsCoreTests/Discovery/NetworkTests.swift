import Testing
@testable import KaryonsCore

/// Several nodes wired together through `TestNetwork`: discovery outcomes of whole runs.
@Suite struct NetworkTests {
    /// The original's 12-peer simulation (`TestNetwork.twelvePeerTopology`). Every listening node ends up verified in every other node's table, no
    /// outbound-only node is ever advertised, and every node is connected to every node it can reach.
    @Test(arguments: [UInt64(1), 2, 3])
    func twelvePeersSeededFromOneSeedFillTheirTables(seed: UInt64) {
        var (network, ids) = TestNetwork.twelvePeerTopology(seed: seed)
        network.run(until: sec(12))

        #expect(network.problems == [])
        let listening = Set(ids[0..<6])
        for index in 0..<12 {
            let table = network.nodes[index].routingTable
            let expected = listening.subtracting([ids[index]])
            let verified = Set(table.entries(matching: .shareable).map(\.id))
            #expect(verified == expected, "node \(index + 1) verified \(verified.count) of \(expected.count)")
            #expect(Set(table.entries().map(\.id)).isSubset(of: listening))  // outbound-only never advertised
            // With the peer half live every dial completed: each pair of nodes that can reach each
            // other is connected exactly once (the tie-break settles mutual dials), listening nodes
            // to everyone, outbound-only nodes to the six listening ones. Peer 8 reaches peer 6
            // through its manual peer, never as a table entry.
            let reachable = index < 6 ? Set(ids).subtracting([ids[index]]) : listening
            #expect(network.isConnected(index, toExactly: reachable), "node \(index + 1) peers")
            let dialer = network.nodes[index].testsOnly_discovery.dialer
            let pending = dialer.tableDials.filter { !$0.isConnected }.count
            #expect(pending == 0, "node \(index + 1)")
            let dialledIDs = dialer.tableDials.map(\.id)
            #expect(index != 7 || !dialledIDs.contains(ids[5]))
            #expect(dialer.manualPeers.map(\.endpoint) == (index == 7 ? [.tcp(.loopbackV4, 30005)] : []))
        }
        // The seed learned everyone from their Peer messages; nobody gave up seeding.
        #expect(network.events(0).contains { if case .entryAdded = $0 { return true } else { return false } })
    }

    /// A run is a pure function of the seeds: the same seeds give the same events, in the same
    /// order, on every node; other seeds give another run.
    @Test func runsAreReproducibleFromTheirSeeds() {
        func run(seed: UInt64) -> [[NodeEvent]] {
            var rng = SplitMix64(seed: seed)
            var network = TestNetwork()
            for peer in 0..<5 {
                let configuration = NodeConfiguration(
                    peerListener: .tcp(.loopbackV4, UInt16(31000 + peer)),
                    lookupListener: .tcp(.loopbackV4, UInt16(31100 + peer)),
                    bootstrapPeers: peer == 0 ? [] : [.tcp(.loopbackV4, 31100)])
                _ = network.add(id: PeerID.random(using: &rng), configuration: configuration, seed: rng.next())
                network.start(peer)
            }
            network.run(until: sec(20))
            #expect(network.problems == [])
            return network.allEvents
        }
        let first = run(seed: 42)
        #expect(first.allSatisfy { $0.count > 10 })
        #expect(run(seed: 42) == first)
        #expect(run(seed: 43) != first)
    }
}
