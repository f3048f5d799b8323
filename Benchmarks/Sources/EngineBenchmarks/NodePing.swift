#if canImport(Glibc)
import Glibc
#endif
import CBaselines
import KaryonsCore
import KaryonsNode
import PingPong

/// Ping-protocol round trips with many connected peers in one process: one hub node that accepts
/// `peers` inbound connections, and `peers` light nodes (outbound-only, one slot) that each dial it.
///
/// The hub runs on one reactor and the light nodes on another, each thread pinned to its own CPU
/// (like the ping-pong benchmarks' server and client). Both ends of every connection run the core
/// PING keep-alive with a short `pingInterval`, so the offered load (2 × peers ÷ interval pings per
/// second) is above what the machine can carry and the figure is the stack's capacity; `pingTimeout`
/// and `pingMissesMax` are raised so that a late pong (a saturated loop) counts as a miss but never
/// drops the peer. Every round trip puts exactly one frame on the hub's send side (its ping, or its
/// pong to a light node's ping), so round trips = the hub's Protocol frames sent during the window
/// (`statistics.framesSent(.protocol)`; a pong still in flight at the window's edge is ±1 per peer).
/// The check value is the number of peers still connected at the end.
enum NodePing {
    /// The peers' keep-alive settings for the benchmark.
    static func peerSettings(interval: Duration) -> NodeConfiguration.Peers {
        var peers = NodeConfiguration.Peers()
        peers.pingInterval = interval
        peers.pingTimeout = .seconds(10)
        peers.pingMissesMax = 1_000_000
        return peers
    }

    static func ping(peers: Int, window: Double, interval: Duration) -> EngineCase {
        let seconds = Table.fixed(window, decimals: window < 1 ? 2 : 1)
        var engineCase = EngineCase(
            group: "node", name: "ping-\(peers)",
            label: "PING round trips, hub + \(peers) light nodes on 2 pinned reactors, ping interval \(interval)",
            operations: 0,
            failableRun: { stopwatch throws(NodeBenchmarkError) in
                try run(peers: peers, window: window, interval: interval, stopwatch: &stopwatch)
            })
        engineCase.operationsText = "\(seconds) s window"
        return engineCase
    }

    private static func run(peers: Int, window: Double, interval: Duration, stopwatch: inout Stopwatch)
        throws(NodeBenchmarkError) -> String
    {
        let hubReactor = try NodeRig.startReactor(pinnedTo: MachineCPUs.allowed(1))
        let lightReactor: Reactor
        do {
            lightReactor = try NodeRig.startReactor(pinnedTo: MachineCPUs.allowed(0))
        } catch {
            NodeRig.stop(hubReactor)
            throw error
        }
        let settings = peerSettings(interval: interval)
        let hub = NodeRig.runTask(on: hubReactor) { () async -> Node? in
            var configuration = NodeRig.listeningConfiguration(inbound: peers)
            configuration.peers = settings
            guard let node = try? Node(configuration: configuration, reactor: hubReactor, seed: 1, logger: NodeRig.quietLogger),
                (try? await node.start()) != nil
            else { return nil }
            return node
        }
        guard let hub = hub ?? nil else {
            NodeRig.stop(lightReactor)
            NodeRig.stop(hubReactor)
            throw NodeBenchmarkError("the hub did not start")
        }
        guard let endpoint = NodeRig.runTask(on: hubReactor, { await hub.listeningEndpoint(.peer) }) ?? nil else {
            NodeRig.shutDown([hub], reactor: hubReactor)
            NodeRig.stop(lightReactor)
            throw NodeBenchmarkError("the hub has no listener")
        }
        let lights = startLightNodes(peers, dialling: endpoint, settings: settings, on: lightReactor)
        defer {
            NodeRig.shutDown(lights, reactor: lightReactor)
            NodeRig.shutDown([hub], reactor: hubReactor)
        }
        guard lights.count == peers else { throw NodeBenchmarkError("\(lights.count) of \(peers) light nodes started") }
        guard NodeRig.waitUntil(on: hubReactor, { await hub.peers.count == peers }) else {
            let count = NodeRig.runTask(on: hubReactor) { await hub.peers.count } ?? 0
            throw NodeBenchmarkError("only \(count) of \(peers) peers connected")
        }
        let roundTrips = stopwatch.measure { () -> Int? in
            guard let start = framesSent(by: hub, on: hubReactor) else { return nil }
            usleep(UInt32(window * 1e6))
            guard let end = framesSent(by: hub, on: hubReactor) else { return nil }
            return end - start
        }
        guard let roundTrips else { throw NodeBenchmarkError("the hub did not answer") }
        stopwatch.operationsDone = roundTrips
        let connected = NodeRig.runTask(on: hubReactor) { await hub.peers.count } ?? 0
        return connected == peers ? "\(peers) peers kept" : "FAILURES=\(peers - connected) peers dropped"
    }

    /// The hub's Protocol frames sent so far (every PING and PONG it sent).
    private static func framesSent(by hub: Node, on reactor: Reactor) -> Int? {
        NodeRig.runTask(on: reactor) { await hub.statistics?.framesSent(.protocol) } ?? nil
    }

    /// Creates and starts `count` light nodes that dial `endpoint`, in one task on `reactor`.
    private static func startLightNodes(
        _ count: Int, dialling endpoint: Endpoint, settings: NodeConfiguration.Peers, on reactor: Reactor
    ) -> [Node] {
        NodeRig.runTask(on: reactor) { () async -> [Node] in
            var nodes: [Node] = []
            var configuration = NodeRig.lightConfiguration(dialPeers: [endpoint])
            configuration.peers = settings
            for index in 0..<count {
                guard let node = try? Node(configuration: configuration, reactor: reactor, seed: UInt64(100 + index),
                                           logger: NodeRig.quietLogger),
                    (try? await node.start()) != nil
                else { break }
                nodes.append(node)
            }
            return nodes
        } ?? []
    }
}
