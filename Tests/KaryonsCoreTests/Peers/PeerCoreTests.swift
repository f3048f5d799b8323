import Testing

@testable import KaryonsCore

/// The peer half composed: dials, handshakes, the pool, signals to discovery, commands, shutdown.
@Suite struct PeerCoreTests {
    typealias F = PeerFixtures
    let remoteEndpoint = F.endpoint("10.0.0.2", 7000)

    // MARK: Dials

    @Test func dialHandshakesAndAddsThePeer() throws {
        var bench = PeerBench()
        let dialled = bench.dial(remoteEndpoint, expected: F.large)
        let id = try #require(dialled)
        #expect(bench.outputs.contains(.connect(id, .peer, to: remoteEndpoint, timeout: .seconds(5))))
        #expect(bench.core.pool.outboundCount == 1, "a dial in flight holds an outbound slot")
        bench.expectConsistent()

        bench.connect(id)
        #expect(bench.sent(on: id) == [F.identity(F.small, protocols: [F.chat]).versionMessage])
        bench.receive(PeerBench.verack(from: F.large), on: id)
        bench.drain()
        let info = PeerInfo(id: F.large, direction: .outbound, endpoint: remoteEndpoint, protocols: [.ping, "CHAT"])
        #expect(bench.events.contains(.peerAdded(info)))
        #expect(bench.outputs.contains(.peerConnected(info)))
        #expect(bench.signals == [.peerAdded(info, dialled: remoteEndpoint)])
        #expect(bench.core.connectedPeers == [info])
        #expect(bench.core.connection(of: F.large) == id)
        #expect(bench.cx.deadlines.deadline(of: .connection(id)) == F.t(20), "the first ping is due")
        bench.expectConsistent()
    }

    @Test func failedConnectIsReportedToDiscoveryAndFreesTheSlot() throws {
        var bench = PeerBench()
        let dialled = bench.dial(remoteEndpoint, expected: F.large)
        let id = try #require(dialled)
        bench.cx.connections.remove(id)  // NodeCore forgets the connection before telling the half.
        bench.core.connectFailed(id, to: remoteEndpoint, .refused, &bench.cx)
        bench.drain()
        #expect(bench.signals == [.dialFailed(remoteEndpoint, expected: F.large, reason: .connectFailed(.refused))])
        // Discovery reports it, knowing whether it dials again (DialerPacingTests).
        #expect(!bench.events.contains { if case .connectFailed = $0 { return true } else { return false } })
        #expect(bench.core.pool.outboundCount == 0)
        bench.expectConsistent()
    }

    @Test func dialToAConnectedPeerOrToOurselvesFailsAtOnce() {
        var bench = PeerBench()
        _ = bench.outboundPeer(F.large, at: remoteEndpoint)
        bench.drain()
        #expect(bench.dial(F.endpoint("10.0.0.3", 7000), expected: F.large) == nil)
        #expect(bench.dial(F.endpoint("10.0.0.4", 7000), expected: F.small) == nil)
        #expect(
            bench.signals.filter(\.isDialFailed) == [
                .dialFailed(F.endpoint("10.0.0.3", 7000), expected: F.large, reason: .duplicatePeer),
                .dialFailed(F.endpoint("10.0.0.4", 7000), expected: F.small, reason: .selfConnection),
            ]
        )
        #expect(bench.core.pool.outboundCount == 1)
    }

    @Test func dialWithoutAFreeOutboundSlotFailsAtOnce() {
        var bench = PeerBench { $0.slots.outbound = 1 }
        #expect(bench.dial(remoteEndpoint) != nil)
        #expect(bench.dial(F.endpoint("10.0.0.3", 7000)) == nil)
        #expect(
            bench.signals.last
                == .dialFailed(F.endpoint("10.0.0.3", 7000), expected: nil, reason: .noFreeSlot)
        )
    }

    @Test func verackFromAnotherIDThanExpectedClosesAndFailsTheDial() {
        var bench = PeerBench()
        let other = PeerID(0, 0, 0, 0x0C)
        let id = bench.dialAndConnect(remoteEndpoint, expected: F.large)
        _ = bench.sent(on: id)
        bench.receive(PeerBench.verack(from: other), on: id)
        #expect(bench.sent(on: id) == [.shutdown(.none)])
        bench.drain()
        #expect(bench.closed(id))
        #expect(
            bench.signals == [
                .dialFailed(
                    remoteEndpoint,
                    expected: F.large,
                    reason: .unexpectedPeer(other)
                )
            ]
        )
        #expect(bench.core.connectedPeers.isEmpty)
        bench.expectConsistent()
    }

    @Test func handshakeRefusedByTheRemoteFailsTheDialWithItsReason() {
        var bench = PeerBench()
        let id = bench.dialAndConnect(remoteEndpoint)
        bench.receive(F.rejected(by: F.large, .incompatibleVersion), on: id)
        bench.drain()
        #expect(bench.events.contains(.handshakeFailed(remoteEndpoint, .incompatibleVersion, byRemote: true)))
        #expect(bench.closed(id))
        guard
            case .dialFailed(remoteEndpoint, expected: nil, .handshakeFailed(.incompatibleVersion, byRemote: true))? =
                bench.signals.last
        else {
            Issue.record("discovery must hear the dial failed: \(bench.signals)")
            return
        }
        bench.expectConsistent()
    }

    // MARK: Inbound

    @Test func inboundHandshakeAnswersVerackWithTheNegotiatedProtocols() {
        var bench = PeerBench()
        let remote = F.endpoint("10.0.0.9", 40000)
        let id = bench.accept(from: remote)
        #expect(bench.cx.deadlines.deadline(of: .connection(id)) == F.t(2))
        bench.receive(PeerBench.version(from: F.large, protocols: [F.chat, F.files]), on: id)
        #expect(bench.sent(on: id) == [PeerBench.verack(from: F.small)])
        bench.drain()
        #expect(!bench.outputs.contains(where: \.isPeerConnected) && bench.signals.isEmpty, "not before the confirmation")
        bench.expectConsistent()
        bench.receive(PeerBench.verack(from: F.large), on: id)
        bench.drain()
        let info = PeerInfo(id: F.large, direction: .inbound, endpoint: remote, protocols: [.ping, "CHAT"])
        #expect(bench.outputs.contains(.peerConnected(info)))
        #expect(bench.signals == [.peerAdded(info, dialled: nil)])
        bench.expectConsistent()
    }

    @Test func inboundSlotsFullRefusesFastWhileDiallingContinues() {
        var bench = PeerBench { $0.slots.inbound = 1 }
        _ = bench.accept(from: F.endpoint("10.0.1.1", 40000))
        let refused = bench.accept(from: F.endpoint("10.0.2.1", 40000))
        #expect(bench.sent(on: refused) == [.shutdown(.noFreeSlot)])
        bench.drain()
        #expect(bench.events.contains(.refused(.peer, F.endpoint("10.0.2.1", 40000), .noFreeSlot)))
        #expect(bench.closed(refused))
        #expect(bench.core.pool.inboundCount == 1)
        let dialled = bench.dial(remoteEndpoint)
        #expect(dialled != nil, "outbound dialling goes on")
        bench.expectConsistent()
    }

    @Test func inboundSubnetCapRefusesTheThirdFromOneSlash24() {
        var bench = PeerBench()
        let first = bench.accept(from: F.endpoint("198.51.100.1", 40000))
        let second = bench.accept(from: F.endpoint("198.51.100.2", 40000))
        let third = bench.accept(from: F.endpoint("198.51.100.3", 40000))
        let elsewhere = bench.accept(from: F.endpoint("198.51.101.3", 40000))
        bench.drain()
        #expect(!bench.closed(first) && !bench.closed(second) && !bench.closed(elsewhere))
        #expect(bench.closed(third))
        #expect(bench.sent(on: third) == [.shutdown(.noFreeSlot)])
        bench.expectConsistent()
    }

    @Test func handshakeTimeoutClosesAndFreesTheInboundSlot() {
        var bench = PeerBench { $0.slots.inbound = 1 }
        let silent = bench.accept(from: F.endpoint("10.0.1.1", 40000))
        bench.advance(to: F.t(1.999))
        #expect(!bench.closed(silent))
        bench.advance(to: F.t(2))
        bench.drain()
        #expect(bench.closed(silent))
        #expect(bench.events.contains(.handshakeFailed(F.endpoint("10.0.1.1", 40000), .timeout, byRemote: false)))
        #expect(bench.sent(on: silent) == [F.rejected(by: F.small, .timeout)])
        #expect(bench.cx.deadlines.isEmpty)
        // The slot is free again: the next connection gets a handshake, not a refusal.
        let next = bench.accept(from: F.endpoint("10.0.2.1", 40000))
        bench.drain()
        #expect(!bench.closed(next))
        bench.expectConsistent()
    }

    @Test func spuriousTimeoutCallsChangeNothing() {
        var bench = PeerBench()
        let handshaking = bench.accept(from: F.endpoint("10.0.1.1", 40000))
        let established = bench.outboundPeer(F.large, at: remoteEndpoint)
        bench.cx.now = F.t(1)
        // As if the deadline queue had handed out both keys early (it removes a key it hands out).
        for id in [handshaking, established] {
            bench.cx.deadlines.cancel(.connection(id))
            bench.core.connectionTimeout(id, &bench.cx)
        }
        bench.drain()
        #expect(!bench.closed(handshaking) && !bench.closed(established))
        #expect(bench.cx.deadlines.deadline(of: .connection(handshaking)) == F.t(2))
        #expect(bench.cx.deadlines.deadline(of: .connection(established)) == F.t(20))
        #expect(bench.sent(on: established).isEmpty)
        bench.expectConsistent()
    }

    @Test func outOfOrderMessageFailsTheHandshakeAndCountsAViolation() {
        var bench = PeerBench()
        let id = bench.accept(from: F.endpoint("10.0.1.1", 40000))
        bench.receive(.protocol(id: "CHAT", payload: [1]), on: id)
        #expect(bench.sent(on: id) == [F.rejected(by: F.small, .malformedMessage)])
        bench.drain()
        #expect(bench.closed(id))
        #expect(bench.cx.statistics.protocolViolations == 1)
        #expect(!bench.outputs.containsDelivery())
    }

    @Test func duplicateInboundPeerIsRefusedWithDuplicatePeer() {
        var bench = PeerBench()
        let first = bench.inboundPeer(F.large, from: F.endpoint("10.0.1.1", 40000))
        let second = bench.accept(from: F.endpoint("10.0.1.1", 40001))
        bench.receive(PeerBench.version(from: F.large), on: second)
        #expect(bench.sent(on: second) == [F.rejected(by: F.small, .duplicatePeer)])
        bench.drain()
        #expect(bench.events.contains(.handshakeFailed(F.endpoint("10.0.1.1", 40001), .duplicatePeer, byRemote: false)))
        #expect(bench.core.connection(of: F.large) == first)
        bench.expectConsistent()
    }

    // MARK: Simultaneous open (RELIABILITY.md 18)

    /// We dial the remote while it dials us. Whatever the order in which the two handshakes finish,
    /// the connection dialled by the smaller ID is kept and the other is closed with duplicatePeer.
    @Test(arguments: [true, false], [true, false])
    func simultaneousOpenKeepsTheConnectionDialledByTheSmallerID(weAreSmaller: Bool, verackFirst: Bool) {
        let local = weAreSmaller ? F.small : F.large
        let remote = weAreSmaller ? F.large : F.small
        var bench = PeerBench(id: local)
        let outbound = bench.dialAndConnect(remoteEndpoint, expected: remote)
        let inbound = bench.accept(from: F.endpoint("10.0.0.2", 40000))
        _ = bench.sent(on: outbound)
        let keeper = weAreSmaller ? outbound : inbound
        let loser = weAreSmaller ? inbound : outbound

        if verackFirst {
            bench.receive(PeerBench.verack(from: remote), on: outbound)
            bench.receive(PeerBench.version(from: remote), on: inbound)
        } else {
            bench.receive(PeerBench.version(from: remote), on: inbound)
            bench.receive(PeerBench.verack(from: remote), on: outbound)
        }
        if !weAreSmaller {
            // The kept connection is the remote's dial: we are its listener, a peer once it confirms.
            // Until then, a peer already established on our own dial stays.
            bench.drain()
            #expect(bench.core.connection(of: remote) == (verackFirst ? outbound : nil))
            #expect(!bench.closed(outbound) || !verackFirst)
            bench.receive(PeerBench.verack(from: remote), on: inbound)
        }
        bench.drain()
        #expect(bench.core.connection(of: remote) == keeper)
        #expect(bench.closed(loser))
        #expect(!bench.closed(keeper))
        let loserFrames = bench.sent(on: loser)
        #expect(
            loserFrames.contains(.shutdown(.duplicatePeer))
                || loserFrames.contains(
                    F.rejected(by: local, .duplicatePeer)
                ),
            "the loser is told why: \(loserFrames)"
        )
        #expect(bench.core.connectedPeers.map(\.id) == [remote])
        bench.expectConsistent()
    }

    /// How the dialler's confirmation of the connection the tie-break keeps can fail to come.
    enum MissingConfirmation: CaseIterable {
        case refused, connectionLost, timeout
    }

    /// We (the larger ID) have a peer on our own dial when the remote's dial completes on our side:
    /// the tie-break keeps the remote's dial, but only once the remote confirms it. If it never does,
    /// the peer on our dial stays, rather than the peer being lost on both connections.
    @Test(arguments: MissingConfirmation.allCases)
    func aKeptDialThatIsNeverConfirmedLeavesTheOlderPeer(missing: MissingConfirmation) {
        var bench = PeerBench(id: F.large)
        let outbound = bench.outboundPeer(F.small, at: remoteEndpoint)
        bench.drain()
        let inbound = bench.accept(from: F.endpoint("10.0.0.2", 40000))
        bench.receive(PeerBench.version(from: F.small), on: inbound)
        #expect(bench.sent(on: inbound) == [PeerBench.verack(from: F.large)], "our accepting Verack")
        bench.drain()
        #expect(!bench.closed(outbound))
        #expect(bench.core.connection(of: F.small) == outbound)
        bench.expectConsistent()

        switch missing {
        case .refused: bench.receive(F.rejected(by: F.small, .duplicatePeer), on: inbound)
        case .connectionLost: bench.lose(inbound, .reset)
        case .timeout: bench.advance(to: bench.now + .seconds(30))
        }
        bench.drain()
        #expect(!bench.closed(outbound))
        #expect(bench.core.connection(of: F.small) == outbound)
        #expect(bench.core.connectedPeers.map(\.id) == [F.small])
        #expect(bench.core.pool.inboundCount == 0, "the unconfirmed connection's slot is free")
        #expect(!bench.events.contains { if case .peerRemoved = $0 { return true } else { return false } })
        bench.expectConsistent()
    }

    /// The older peer's connection goes away (the remote closed it as the tie-break's loser) before the
    /// remote confirms the kept one: the kept one carries the peer from then on, as any listener's
    /// handshake does, and a further connection from that peer is a duplicate.
    @Test func aSuccessorTakesThePeerOverWhenTheOlderConnectionEndsFirst() {
        var bench = PeerBench(id: F.large)
        let outbound = bench.outboundPeer(F.small, at: remoteEndpoint)
        let inbound = bench.accept(from: F.endpoint("10.0.0.2", 40000))
        bench.receive(PeerBench.version(from: F.small), on: inbound)
        bench.receive(.shutdown(.duplicatePeer), on: outbound)
        bench.drain()
        #expect(bench.events.contains(.peerRemoved(F.small, .remoteShutdown(.duplicatePeer))))
        bench.expectConsistent()

        let third = bench.accept(from: F.endpoint("10.0.0.2", 40001))
        bench.receive(PeerBench.version(from: F.small), on: third)
        #expect(bench.sent(on: third) == [F.rejected(by: F.large, .duplicatePeer)])
        bench.receive(PeerBench.verack(from: F.small), on: inbound)
        bench.drain()
        #expect(bench.core.connection(of: F.small) == inbound)
        #expect(bench.core.connectedPeers.map(\.id) == [F.small])
        bench.expectConsistent()
    }

    // MARK: Established peers

    @Test func remoteShutdownRemovesThePeerAndTellsEveryone() {
        var bench = PeerBench()
        let id = bench.outboundPeer(F.large, at: remoteEndpoint)
        bench.drain()
        bench.receive(.shutdown(.shuttingDown), on: id)
        bench.drain()
        #expect(bench.events.contains(.peerRemoved(F.large, .remoteShutdown(.shuttingDown))))
        #expect(bench.outputs.contains(.peerDisconnected(F.large, reason: .remoteShutdown(.shuttingDown))))
        guard case .peerRemoved(let info, dialled: remoteEndpoint)? = bench.signals.last, info.id == F.large else {
            Issue.record("discovery must hear the peer left: \(bench.signals)")
            return
        }
        #expect(bench.core.connectedPeers.isEmpty)
        #expect(bench.cx.deadlines.isEmpty)
        bench.expectConsistent()
    }

    @Test func connectionLostRemovesThePeer() {
        var bench = PeerBench()
        let id = bench.inboundPeer(F.large, from: F.endpoint("10.0.1.1", 40000))
        bench.lose(id, .reset)
        bench.drain()
        #expect(bench.outputs.contains(.peerDisconnected(F.large, reason: .connectionLost(.reset))))
        #expect(bench.core.pool.inboundCount == 0)
        bench.expectConsistent()
    }

    @Test func frameOfAnUnnegotiatedProtocolClosesWithMalformedMessage() {
        var bench = PeerBench()
        let id = bench.outboundPeer(F.large, at: remoteEndpoint)
        bench.receive(.protocol(id: "FILES", payload: [1, 2]), on: id)
        #expect(bench.sent(on: id) == [.shutdown(.malformedMessage)])
        bench.drain()
        #expect(
            bench.outputs.contains(
                .peerDisconnected(F.large, reason: .protocolViolation("protocol FILES was not negotiated"))
            )
        )
        #expect(bench.cx.statistics.protocolViolations == 1)
        #expect(!bench.outputs.containsDelivery())
    }

    @Test func negotiatedFramesAreDeliveredAndPingsAnswered() {
        var bench = PeerBench()
        let id = bench.outboundPeer(F.large, at: remoteEndpoint)
        bench.receive(.protocol(id: "CHAT", payload: [104, 105]), on: id)
        bench.receive(.protocol(id: .ping, payload: F.ping(Nonce(1, 2, 3, 4))), on: id)
        bench.drain()
        #expect(bench.outputs.contains(.deliver(from: F.large, protocolID: "CHAT", payload: [104, 105])))
        #expect(bench.sent(on: id) == [.protocol(id: .ping, payload: F.pong(Nonce(1, 2, 3, 4)))])
        #expect(
            !bench.outputs.containsDelivery(of: .ping),
            "PING never reaches the application"
        )
    }

    @Test func keepAlivePingsEveryIntervalAndDropsAfterThreeMisses() throws {
        var bench = PeerBench()
        let id = bench.outboundPeer(F.large, at: remoteEndpoint)
        bench.advance(to: F.t(20))
        let first = bench.sent(on: id)
        guard case .protocol(.ping, let payload)? = first.first,
            case .ping(let nonce) = try PingPayload(parsing: payload)
        else {
            Issue.record("a ping must go out at 20 s: \(first)")
            return
        }
        bench.receive(.protocol(id: .ping, payload: F.pong(nonce)), on: id)
        // Answered at 20 s; then the pings of 40 s, 60 s and 80 s go unanswered.
        bench.advance(to: F.t(81.999))
        bench.drain()
        #expect(!bench.closed(id), "two misses in a row are not enough")
        bench.advance(to: F.t(82))
        bench.drain()
        #expect(bench.closed(id))
        #expect(bench.outputs.contains(.peerDisconnected(F.large, reason: .pingTimeout)))
        #expect(bench.sent(on: id).last == .shutdown(.timeout))
        #expect(bench.cx.deadlines.isEmpty)
        bench.expectConsistent()
    }

    // MARK: Commands

    @Test func sendsThatCannotGoAreDroppedWithAnEvent() {
        var bench = PeerBench()
        let id = bench.outboundPeer(F.large, at: remoteEndpoint)
        bench.core.command(.send(to: PeerID(0, 0, 0, 0x0C), protocolID: "CHAT", payload: [1]), &bench.cx)
        bench.core.command(.send(to: F.large, protocolID: "FILES", payload: [1]), &bench.cx)
        bench.core.command(.send(to: F.large, protocolID: .ping, payload: [1]), &bench.cx)
        let huge = [UInt8](repeating: 7, count: WireLimits.frameSizeMaxDefault)
        bench.core.command(.send(to: F.large, protocolID: "CHAT", payload: huge), &bench.cx)
        bench.drain()
        let drops = bench.events.compactMap { event -> String? in
            if case .sendDropped(_, _, let reason) = event { return reason }
            return nil
        }
        #expect(
            drops == [
                "peer not connected", "protocol not negotiated with this peer", "PING belongs to the core",
                "payload too large for a frame",
            ]
        )
        #expect(bench.cx.statistics.sendsDropped == 4)
        #expect(bench.sent(on: id).isEmpty)
        #expect(bench.core.connectedPeers.count == 1, "dropping a message does not drop the peer")
    }

    @Test func sendAndBroadcastReachOnlyPeersThatNegotiatedTheProtocol() {
        var bench = PeerBench()
        let chatting = bench.outboundPeer(F.large, at: remoteEndpoint)
        let pingOnly = bench.dialAndConnect(F.endpoint("10.0.0.3", 7000))
        bench.receive(PeerBench.verack(from: PeerID(0, 0, 0, 0x0C), protocols: [.ping]), on: pingOnly)
        _ = bench.sent(on: pingOnly)
        bench.core.command(.send(to: F.large, protocolID: "CHAT", payload: [1]), &bench.cx)
        bench.core.command(.broadcast(protocolID: "CHAT", payload: [2]), &bench.cx)
        #expect(bench.sent(on: chatting) == [.protocol(id: "CHAT", payload: [1]), .protocol(id: "CHAT", payload: [2])])
        #expect(bench.sent(on: pingOnly).isEmpty)
        bench.drain()
        #expect(bench.cx.statistics.sendsDropped == 0, "a broadcast skips peers without the protocol silently")
    }

    @Test func disconnectSendsTheReasonAndRemovesThePeer() {
        var bench = PeerBench()
        let id = bench.outboundPeer(F.large, at: remoteEndpoint)
        bench.core.command(.disconnect(F.large, reason: .none), &bench.cx)
        #expect(bench.sent(on: id) == [.shutdown(.none)])
        bench.drain()
        #expect(bench.outputs.contains(.peerDisconnected(F.large, reason: .localShutdown(.none))))
        bench.expectConsistent()
    }

    @Test func pauseDeliveryPausesReadingAndKeepAlive() {
        var bench = PeerBench()
        let id = bench.outboundPeer(F.large, at: remoteEndpoint)
        bench.core.command(.pauseDelivery(F.large, paused: true), &bench.cx)
        bench.drain()
        #expect(bench.outputs.last == .pauseReading(id, paused: true))
        #expect(bench.cx.deadlines.deadline(of: .connection(id)) == nil)
        bench.advance(to: F.t(200))
        #expect(bench.core.connectedPeers.count == 1, "no misses are counted while we do not read")
        bench.core.command(.pauseDelivery(F.large, paused: false), &bench.cx)
        bench.drain()
        #expect(bench.outputs.last == .pauseReading(id, paused: false))
        #expect(bench.cx.deadlines.deadline(of: .connection(id)) == F.t(220))
        bench.expectConsistent()
    }

    @Test func peerWhoseQueueStaysHighIsClosedWithSendStalled() {
        var bench = PeerBench { $0.peers.sendStallTimeout = .seconds(5) }
        let id = bench.outboundPeer(F.large, at: remoteEndpoint)
        bench.cx.now = F.t(1)
        bench.core.sendQueueChanged(id, isHigh: true, &bench.cx)
        #expect(bench.cx.deadlines.deadline(of: .connection(id)) == F.t(6))
        bench.advance(to: F.t(6))
        bench.drain()
        #expect(bench.outputs.contains(.peerDisconnected(F.large, reason: .sendStalled)))
        #expect(bench.closed(id))
        bench.expectConsistent()
    }

    @Test func peerThatLetsTooMuchPileUpIsClosedWithSendStalled() {
        var bench = PeerBench { $0.peers.sendQueueBytesMax = 10_000 }
        let id = bench.outboundPeer(F.large, at: remoteEndpoint)
        for _ in 0..<20 {
            bench.core.command(
                .send(to: F.large, protocolID: "CHAT", payload: [UInt8](repeating: 1, count: 1000)),
                &bench.cx
            )
        }
        bench.drain()
        #expect(bench.outputs.contains(.peerDisconnected(F.large, reason: .sendStalled)))
        let queued = bench.sent(on: id)
        #expect(queued.count < 10, "the outbox never grew beyond the limit: \(queued.count) frames")
        #expect(bench.cx.statistics.sendsDropped >= 11)
    }

    // MARK: Shutdown (RELIABILITY.md 47)

    @Test func shutdownSaysGoodbyeToEveryoneAndLeavesNothingBehind() {
        var bench = PeerBench()
        let established = bench.outboundPeer(F.large, at: remoteEndpoint)
        let handshaking = bench.accept(from: F.endpoint("10.0.1.1", 40000))
        let dialling = bench.dial(F.endpoint("10.0.0.5", 7000))!
        bench.drain()
        let signalsBefore = bench.signals.count
        bench.core.shutdown(&bench.cx)
        bench.drain()
        #expect(bench.sent(on: established) == [.shutdown(.shuttingDown)])
        #expect(bench.sent(on: handshaking) == [.shutdown(.shuttingDown)])
        #expect(bench.closed(established) && bench.closed(handshaking) && bench.closed(dialling))
        #expect(bench.outputs.contains(.peerDisconnected(F.large, reason: .localShutdown(.shuttingDown))))
        #expect(bench.signals.count == signalsBefore, "discovery is shutting down too: no signals")
        #expect(bench.cx.deadlines.isEmpty)
        #expect(bench.core.links.count == 0)
        #expect(bench.core.pool.inboundCount == 0 && bench.core.pool.outboundCount == 0)
        bench.expectConsistent()
    }
}
