@testable import KaryonsCore

extension TestNetwork {
    /// The original's 12-peer simulation (karyons-behaviour.md §9), all on 127.0.0.1: peer 1 is the
    /// seed, peers 2–6 listen and seed from it, peers 7–12 are outbound-only and start 3 s later with
    /// two or three bootstrap endpoints; peer 8 also dials peer 6's data endpoint as a manual peer.
    /// Returns the network at 3 s (every node started) and the IDs, peer n at index n − 1.
    static func twelvePeerTopology(seed: UInt64) -> (network: TestNetwork, ids: [PeerID]) {
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
        return (network, ids)
    }

    /// True when node `index` holds a peer connection to every node in `ids` (and no other).
    func isConnected(_ index: Int, toExactly ids: Set<PeerID>) -> Bool {
        let peers = nodes[index].peers.map(\.id)
        return Set(peers) == ids && peers.count == ids.count
    }
}
