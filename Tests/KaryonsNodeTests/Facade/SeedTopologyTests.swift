import Testing
import KaryonsCore
@testable import KaryonsNode

/// The Rust original's 12-peer simulation (reference §9) on real loopback sockets, all nodes on one
/// reactor in this process: one seed; five nodes bootstrapping from it; six outbound-only nodes
/// joining later (peer8 also dials peer6's data port).
@Suite struct SeedTopologyTests {
    @Test func twelvePeersOnLoopbackFindEachOtherAndFillTheirOutboundSlots() async throws {
        let reactor = try Reactor()
        try reactor.start()
        defer {
            reactor.shutdown()
            reactor.waitUntilStopped()
        }
        let started = SystemClock.now()
        var listening: [Node] = []
        var lookupEndpoints: [Endpoint] = []
        var dataEndpoints: [Endpoint] = []
        for index in 0..<6 {
            var configuration = try loopbackConfiguration()
            configuration.lookupListener = try Endpoint(parsing: "tcp://127.0.0.1:0")
            if index > 0 { configuration.bootstrapPeers = [lookupEndpoints[0]] }
            let node = try Node(configuration: configuration, reactor: reactor, seed: 1_000 + UInt64(index))
            try await node.start()
            listening.append(node)
            lookupEndpoints.append(try #require(await node.listeningEndpoint(.lookup)))
            dataEndpoints.append(try #require(await node.listeningEndpoint(.peer)))
        }
        // The original starts the outbound-only row 3 s later; a shorter pause keeps the test quick.
        try await Task.sleep(nanoseconds: 500_000_000)
        var outboundOnly: [Node] = []
        for index in 0..<6 {
            var bootstrap = [lookupEndpoints[0], lookupEndpoints[1 + index % 5]]
            if index == 5 { bootstrap.append(lookupEndpoints[1]) }
            let dial = index == 1 ? [dataEndpoints[5]] : []
            var configuration = try outboundConfiguration(dialPeers: dial)
            configuration.bootstrapPeers = bootstrap
            let node = try Node(configuration: configuration, reactor: reactor, seed: 2_000 + UInt64(index))
            try await node.start()
            outboundOnly.append(node)
        }
        let listeningIDs = Set(listening.map(\.id))

        // Converged: every listening node's table holds the other five listening nodes, and every node
        // is connected to every other listening node (outbound, or inbound when the other side dialled first).
        var converged = false
        for _ in 0..<300 {
            var ready = true
            for node in listening + outboundOnly {
                let table = await node.routingTable
                let known = Set(table?.entries(matching: .all).map(\.id) ?? [])
                let others = listeningIDs.subtracting([node.id])
                let connected = Set(await node.peers.map(\.id))
                if !others.isSubset(of: known) || !others.isSubset(of: connected) {
                    ready = false
                    break
                }
            }
            if ready {
                converged = true
                break
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let elapsed = SystemClock.now().duration(since: started)
        #expect(converged, "not converged after \(elapsed)")
        print("12-peer loopback topology converged in \(elapsed) (wall, including the 0.5 s join pause)")
        for node in outboundOnly + listening { await node.shutdown() }
    }
}
