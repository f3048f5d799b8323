import Testing

@testable import KaryonsCore

/// Two whole nodes piped into each other through `TestNetwork`: the connection half end to end.
@Suite struct TwoNodeTests {
    typealias F = PeerFixtures

    func network(
        _ first: NodeConfiguration = TestNetwork.configuration(index: 0),
        _ second: NodeConfiguration = TestNetwork.configuration(index: 1),
        ids: (PeerID, PeerID) = (PeerFixtures.small, PeerFixtures.large),
        schedulerSeed: UInt64? = nil
    ) -> TestNetwork {
        TestNetwork([(ids.0, first), (ids.1, second)], schedulerSeed: schedulerSeed)
    }

    func removals(_ net: TestNetwork, _ index: Int) -> [PeerRemovalReason] {
        net.events(index).compactMap { event in
            if case .peerRemoved(_, let reason) = event { return reason }
            return nil
        }
    }

    @Test func handshakeCompletesAndACustomProtocolFlowsBothWays() {
        var net = network()
        net.dial(from: 0, to: 1)
        net.pump()
        #expect(net.nodes[0].peers.map(\.id) == [F.large])
        #expect(net.nodes[1].peers.map(\.id) == [F.small])
        #expect(net.nodes[0].peers.first?.direction == .outbound)
        #expect(net.nodes[1].peers.first?.direction == .inbound)
        #expect(net.nodes[0].peers.first?.protocols == [.ping, "CHAT"])

        net.input(0, .command(.send(to: F.large, protocolID: "CHAT", payload: Array("hi".utf8))))
        net.input(1, .command(.send(to: F.small, protocolID: "CHAT", payload: Array("yo".utf8))))
        net.pump()
        #expect(
            net.delivered(1).map { "\($0.0 == F.small) \($0.1) \(String(decoding: $0.2, as: UTF8.self))" } == [
                "true CHAT hi"
            ]
        )
        #expect(
            net.delivered(0).map { "\($0.0 == F.large) \($0.1) \(String(decoding: $0.2, as: UTF8.self))" } == [
                "true CHAT yo"
            ]
        )

        // Keep-alive keeps them together for minutes, without the application seeing any of it.
        net.run(until: F.t(300))
        #expect(net.nodes[0].peers.count == 1 && net.nodes[1].peers.count == 1)
        #expect(removals(net, 0).isEmpty && removals(net, 1).isEmpty)
        #expect(net.nodes[0].statistics.framesSent[.protocol, default: 0] >= 15 + 1, "pings every 20 s plus pongs")
        #expect(net.delivered(0).count == 1 && net.delivered(1).count == 1)
        #expect(net.problems.isEmpty, "\(net.problems)")
    }

    @Test(arguments: [true, false])
    func protocolOutsideTheIntersectionNeverRuns(firstDials: Bool) {
        // RELIABILITY.md 20: A runs {P, Q}, B runs {P}.
        let p = ProtocolSpec(id: "P", version: F.v010)
        let q = ProtocolSpec(id: "Q", version: F.v010)
        var net = network(
            TestNetwork.configuration(index: 0, protocols: [p, q]),
            TestNetwork.configuration(index: 1, protocols: [p])
        )
        if firstDials { net.dial(from: 0, to: 1) } else { net.dial(from: 1, to: 0) }
        net.pump()
        #expect(net.nodes[0].peers.first?.protocols == [.ping, "P"])
        #expect(net.nodes[1].peers.first?.protocols == [.ping, "P"])
        net.input(0, .command(.send(to: F.large, protocolID: "Q", payload: [1])))
        net.input(0, .command(.broadcast(protocolID: "Q", payload: [2])))
        net.input(0, .command(.send(to: F.large, protocolID: "P", payload: [3])))
        net.pump()
        #expect(net.delivered(1).map(\.1) == ["P"])
        #expect(
            net.events(0).contains(.sendDropped(to: F.large, "Q", reason: "protocol not negotiated with this peer"))
        )
        #expect(net.nodes[1].peers.count == 1, "nothing illegal reached the other side")
        #expect(net.problems.isEmpty, "\(net.problems)")
    }

    @Test func incompatibleNetworkVersionIsRefusedAndBothSidesSeeWhy() {
        var newer = TestNetwork.configuration(index: 0)
        newer.networkVersion = ProtocolVersion(Version(0, 2, 0))
        var net = network(newer)
        net.dial(from: 0, to: 1)
        net.pump()
        #expect(net.nodes[0].peers.isEmpty && net.nodes[1].peers.isEmpty)
        #expect(net.events(1).containsHandshakeFailure(.incompatibleVersion, byRemote: false))
        #expect(
            net.events(0).contains(.handshakeFailed(.tcp(.v4(0x7F00_0002), 7000), .incompatibleVersion, byRemote: true))
        )
        #expect(net.openConnections == 0)
        #expect(net.problems.isEmpty, "\(net.problems)")
    }

    @Test func listenerVersionTheDiallerRefusesIsClosedWithShutdown() {
        // The listener accepts anything from 0.1.0 on; the dialler (0.2.0) accepts only ^0.2.0.
        var newer = TestNetwork.configuration(index: 0)
        newer.networkVersion = ProtocolVersion(Version(0, 2, 0))
        var lenient = TestNetwork.configuration(index: 1)
        lenient.networkVersion = ProtocolVersion(
            Version(0, 1, 0),
            requirement: try! VersionRequirement(parsing: ">=0.1.0")
        )
        var net = network(newer, lenient)
        net.dial(from: 0, to: 1)
        net.pump()
        #expect(net.nodes[0].peers.isEmpty && net.nodes[1].peers.isEmpty)
        #expect(
            net.events(0).contains(
                .handshakeFailed(.tcp(.v4(0x7F00_0002), 7000), .incompatibleVersion, byRemote: false)
            )
        )
        // The listener accepted, but is only established on the dialler's confirmation: it never
        // had a peer, and its handshake fails with the dialler's reason.
        #expect(removals(net, 1) == [])
        #expect(net.events(1).containsHandshakeFailure(.incompatibleVersion, byRemote: true))
        #expect(net.openConnections == 0)
    }

    @Test func peerThatStopsAnsweringPingsIsDroppedAfterThreeMisses() {
        var net = network()
        net.dial(from: 0, to: 1)
        net.pump()
        net.frozen.insert(1)
        // Pings at 20, 40 and 60 s go unanswered; the third miss is counted at 62 s.
        net.run(until: F.t(61.999))
        #expect(net.nodes[0].peers.count == 1)
        net.run(until: F.t(62))
        #expect(net.nodes[0].peers.isEmpty)
        #expect(removals(net, 0) == [.pingTimeout])
        #expect(net.problems.isEmpty, "\(net.problems)")
    }

    @Test func peerThatNeverReadsIsClosedWithSendStalledWhileMemoryStaysBounded() {
        var net = network()
        net.dial(from: 0, to: 1)
        net.pump()
        net.deaf.insert(1)
        let payload = [UInt8](repeating: 0xAB, count: 8 * 1024)
        for _ in 0..<2_000 {  // 16 MiB offered, four times the per-peer limit.
            net.input(0, .command(.send(to: F.large, protocolID: "CHAT", payload: payload)))
            net.pump()
        }
        #expect(removals(net, 0) == [.sendStalled])
        let limits = NodeConfiguration.Peers()
        let bound = net.highWatermark + limits.sendQueueBytesMax + payload.count + 64
        #expect(net.driverQueuedMax <= bound, "queued \(net.driverQueuedMax) bytes, bound \(bound)")
        #expect(net.driverQueuedMax > limits.sendQueueBytesMax / 2, "the limit, not something else, stopped it")
        #expect(net.nodes[0].statistics.sendsDropped > 1_000)
        #expect(net.problems.isEmpty, "\(net.problems)")
    }

    @Test func peerWhoseQueueStaysHighIsClosedAfterTheStallTimeout() {
        var net = network()
        net.dial(from: 0, to: 1)
        net.pump()
        net.deaf.insert(1)
        // A little above the driver's watermark, far below the byte limit.
        for _ in 0..<40 {
            net.input(
                0,
                .command(.send(to: F.large, protocolID: "CHAT", payload: [UInt8](repeating: 1, count: 8 * 1024)))
            )
        }
        net.pump()
        net.run(until: F.t(29.9))
        #expect(net.nodes[0].peers.count == 1)
        net.run(until: F.t(30))
        #expect(removals(net, 0) == [.sendStalled])
        #expect(net.problems.isEmpty, "\(net.problems)")
    }

    @Test func shutdownDuringHandshakesLeavesNoConnectionOrTimer() {
        var net = network()
        net.deaf.insert(1)  // Node 1 accepts but never reads: both handshakes hang.
        net.dial(from: 0, to: 1)
        net.dial(from: 1, to: 0, expectingID: false)
        net.pump()
        #expect(net.nodes[0].connectionCount(.peer) == 2)
        #expect(net.nodes[1].connectionCount(.peer) == 2)
        net.input(0, .command(.shutdown))
        net.input(1, .command(.shutdown))
        net.pump()
        for index in 0..<2 {
            #expect(net.log[index].last == .stopped)
            #expect(net.nodes[index].connectionCount(.peer) == 0)
            #expect(net.nodes[index].nextDeadline == nil)
            #expect(net.nodes[index].peers.isEmpty)
        }
        #expect(net.openConnections == 0)
        // Nothing fires later.
        let logged = net.log.map(\.count)
        net.run(until: F.t(600))
        #expect(net.log.map(\.count) == logged)
        #expect(net.problems.isEmpty, "\(net.problems)")
    }

    @Test func slowApplicationPushesBackUntilTheSenderDropsThePeer() {
        // RELIABILITY.md 42: node 1's application stops consuming node 0's messages. Node 1 stops
        // reading, the bytes back up into node 0's driver, and node 0 drops node 1 once its queue for
        // it is full; nothing grows without bound on either side.
        var net = network()
        net.dial(from: 0, to: 1)
        net.pump()
        net.input(1, .command(.pauseDelivery(F.small, paused: true)))
        net.pump()
        let payload = [UInt8](repeating: 7, count: 8 * 1024)
        for _ in 0..<1_000 {
            net.input(0, .command(.send(to: F.large, protocolID: "CHAT", payload: payload)))
            net.pump()
        }
        #expect(net.delivered(1).isEmpty, "nothing is delivered while paused")
        #expect(removals(net, 0) == [.sendStalled])
        let bound = net.highWatermark + NodeConfiguration.Peers().sendQueueBytesMax + payload.count + 64
        #expect(net.driverQueuedMax <= bound)
        #expect(net.problems.isEmpty, "\(net.problems)")
    }

    @Test func nodeThatDialsItselfRefusesTheConnectionOnBothEnds() {
        var net = TestNetwork([(F.small, TestNetwork.configuration(index: 0))])
        net.dial(from: 0, to: 0, expectingID: false)
        net.pump()
        #expect(net.nodes[0].peers.isEmpty)
        #expect(net.events(0).containsHandshakeFailure(.selfConnection, byRemote: false))
        #expect(net.events(0).contains(.handshakeFailed(.tcp(.v4(0x7F00_0001), 7000), .selfConnection, byRemote: true)))
        #expect(net.openConnections == 0)
        #expect(net.nodes[0].connectionCount(.peer) == 0)
        #expect(net.problems.isEmpty, "\(net.problems)")
    }

    /// RELIABILITY.md 18: both nodes dial each other at once. Whatever the interleaving, exactly one
    /// connection survives, both agree which (the one the smaller ID dialled), and nothing is left over.
    @Test(arguments: 0..<150)
    func simultaneousOpenConvergesOnOneConnection(seed: UInt64) {
        var choices = SplitMix64(seed: seed)
        let smallFirst = choices.chance(0.5)
        let ids = smallFirst ? (F.small, F.large) : (F.large, F.small)
        var net = network(ids: ids, schedulerSeed: seed)
        net.dial(from: 0, to: 1, expectingID: choices.chance(0.5))
        net.dial(from: 1, to: 0, expectingID: choices.chance(0.5))
        net.run(until: F.t(5))
        #expect(net.openConnections == 1, "seed \(seed)")
        #expect(net.nodes[0].peers.map(\.id) == [ids.1])
        #expect(net.nodes[1].peers.map(\.id) == [ids.0])
        let smallerIndex = smallFirst ? 0 : 1
        #expect(
            net.nodes[smallerIndex].peers.first?.direction == .outbound,
            "seed \(seed): the smaller ID's dial is kept"
        )
        #expect(net.nodes[1 - smallerIndex].peers.first?.direction == .inbound)
        #expect(net.problems.isEmpty, "seed \(seed): \(net.problems)")
    }
}
