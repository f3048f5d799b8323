import Testing
@testable import KaryonsCore

/// Several nodes wired together through `TestNetwork`: discovery outcomes of whole runs.
@Suite struct NetworkTests {
    /// The original's 12-peer simulation (karyons-behaviour.md §9): peer1 is the seed, peers 2–6
    /// listen and seed from it, peers 7–12 are outbound-only and start 3 s later with two or three
    /// bootstrap endpoints. Every listening node ends up verified in every other node's table, no
    /// outbound-only node is ever advertised, and every node dials all its verified entries (the
    /// peer half is not wired in, so dials stay pending).
    @Test(arguments: [UInt64(1), 2, 3])
    func twelvePeersSeededFromOneSeedFillTheirTables(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let ids = (1...12).map { _ in PeerID.random(using: &rng) }
        var network = TestNetwork()
        func lookup(_ peer: Int) -> Endpoint { .tcp(.loopbackV4, UInt16(30009 + peer)) }
        for peer in 1...6 {
            let configuration = NodeConfiguration(
                peerListener: .tcp(.loopbackV4, UInt16(29999 + peer)), lookupListener: lookup(peer),
                bootstrapPeers: peer == 1 ? [] : [lookup(1)])
            _ = network.add(id: ids[peer - 1], configuration: configuration, seed: rng.next())
            network.start(peer - 1)
        }
        network.run(until: sec(3))
        let bootstraps: [Int: [Int]] = [7: [1, 2], 8: [1, 3], 9: [1, 4], 10: [1, 5], 11: [1, 6], 12: [1, 6, 2]]
        for peer in 7...12 {
            let configuration = NodeConfiguration(
                bootstrapPeers: bootstraps[peer]!.map(lookup),
                dialPeers: peer == 8 ? [.tcp(.loopbackV4, 30005)] : [])
            _ = network.add(id: ids[peer - 1], configuration: configuration, seed: rng.next())
            network.start(peer - 1)
        }
        network.run(until: sec(30))

        #expect(network.problems == [])
        let listening = Set(ids[0..<6])
        for index in 0..<12 {
            let table = network.nodes[index].routingTable
            let expected = listening.subtracting([ids[index]])
            let verified = Set(table.entries(matching: .shareable).map(\.id))
            #expect(verified == expected, "node \(index + 1) verified \(verified.count) of \(expected.count)")
            #expect(Set(table.entries().map(\.id)).isSubset(of: listening))  // outbound-only never advertised
            // Peer 8 dials peer 6's data endpoint as a manual peer, so never as a table entry.
            let dialer = network.nodes[index].testsOnly_discovery.dialer
            let tableDials = expected.subtracting(index == 7 ? [ids[5]] : [])
            let dialled = dialer.tableDials.map(\.id)
            #expect(Set(dialled) == tableDials && dialled.count == tableDials.count, "node \(index + 1)")
            #expect(dialer.manualPeers.map(\.endpoint) == (index == 7 ? [.tcp(.loopbackV4, 30005)] : []))
        }
        // The seed learned everyone from their Peer messages; nobody gave up seeding.
        #expect(network.events[0].contains { if case .entryAdded = $0 { return true } else { return false } })
    }
}
