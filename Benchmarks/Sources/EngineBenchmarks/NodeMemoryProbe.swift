#if canImport(Glibc)
import Glibc
#endif
import KaryonsCore
import KaryonsNode

/// Memory per established, idle peer connection between nodes, and per idle node, with both ends of
/// every connection in this process.
///
/// One reactor holds a hub node (listening, enough inbound slots) and light nodes (outbound-only,
/// one outbound slot, façade `Node`s with the default configuration otherwise: PING every 20 s).
/// Each wave first creates and starts `lightsPerWave` light nodes that dial nothing (sample "nodes
/// up": the cost of an idle node), then has each dial the hub and waits until every handshake is
/// done on both sides and the connections idle (sample "connected": the cost of a connection with
/// both ends' state: two sockets, the hub's and the light node's connection, handshake result, peer
/// entry, PING machine, and the façade's per-peer bookkeeping). Like `MemoryProbe`, it reads the
/// anonymous resident set and glibc's heap in use; kernel socket memory is not in either.
public enum NodeMemoryProbe {
    /// One wave's two samples.
    public struct Wave {
        /// Light nodes (and so connections) added by this wave.
        public var count: Int
        /// After the wave's light nodes started, before they dialled.
        public var nodesUp: MemoryProbe.Sample
        /// After every connection of the wave completed its handshake and went idle.
        public var connected: MemoryProbe.Sample
    }

    /// The sample with only the hub running, then one `Wave` per wave.
    public static func measure(lightsPerWave: Int, waves: Int) throws(NodeBenchmarkError) -> (MemoryProbe.Sample, [Wave]) {
        let reactor = try NodeRig.startReactor()
        let total = lightsPerWave * waves
        let hub = NodeRig.runTask(on: reactor) { () async -> Node? in
            guard let node = try? Node(configuration: NodeRig.listeningConfiguration(inbound: total), reactor: reactor,
                                       seed: 1, logger: NodeRig.quietLogger),
                (try? await node.start()) != nil
            else { return nil }
            return node
        }
        guard let hub = hub ?? nil,
            let endpoint = NodeRig.runTask(on: reactor, { await hub.listeningEndpoint(.peer) }) ?? nil
        else {
            NodeRig.stop(reactor)
            throw NodeBenchmarkError("the hub did not start")
        }
        var lights: [Node] = []
        defer { NodeRig.shutDown(lights + [hub], reactor: reactor) }
        let baseline = MemoryProbe.sample(pairs: 0)
        var samples: [Wave] = []
        for waveIndex in 0..<waves {
            let firstSeed = UInt64(1_000 + waveIndex * lightsPerWave)  // Seeds fix the IDs: each node its own.
            let wave = NodeRig.runTask(on: reactor) { () async -> [Node] in
                var nodes: [Node] = []
                for index in 0..<lightsPerWave {
                    guard let node = try? Node(configuration: NodeRig.lightConfiguration(), reactor: reactor,
                                               seed: firstSeed + UInt64(index), logger: NodeRig.quietLogger),
                        (try? await node.start()) != nil
                    else { break }
                    nodes.append(node)
                }
                return nodes
            } ?? []
            lights += wave
            guard wave.count == lightsPerWave else { throw NodeBenchmarkError("\(wave.count) of \(lightsPerWave) nodes started") }
            let nodesUp = MemoryProbe.sample(pairs: lights.count - lightsPerWave)
            try connect(wave, to: endpoint, hub: hub, expecting: lights.count, on: reactor)
            samples.append(Wave(count: lightsPerWave, nodesUp: nodesUp, connected: MemoryProbe.sample(pairs: lights.count)))
        }
        return (baseline, samples)
    }

    /// Has every node of `wave` dial the hub; returns once the hub has `expected` peers and every
    /// node of the wave has its one, and the loop has been idle a moment.
    private static func connect(_ wave: [Node], to endpoint: Endpoint, hub: Node, expecting expected: Int,
                                on reactor: Reactor) throws(NodeBenchmarkError) {
        _ = NodeRig.runTask(on: reactor) {
            for node in wave { await node.dial(endpoint) }
            return true
        }
        let allConnected = NodeRig.waitUntil(on: reactor, seconds: 20) {
            guard await hub.peers.count == expected else { return false }
            for node in wave where await node.peers.count != 1 { return false }
            return true
        }
        guard allConnected else {
            let counts = NodeRig.runTask(on: reactor) { () async -> (Int, Int) in
                var connected = 0
                for node in wave where await node.peers.count == 1 { connected += 1 }
                return (await hub.peers.count, connected)
            }
            throw NodeBenchmarkError("the wave's connections did not all complete (hub: \(counts?.0 ?? -1) of \(expected) "
                + "peers; wave: \(counts?.1 ?? -1) of \(wave.count) connected)")
        }
        usleep(200_000)  // Let the last handshakes' buffers drain and the loop go idle.
    }
}
