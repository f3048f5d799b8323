import Testing

@testable import KaryonsCore

/// Dispatch by protocol ID and flow control of one established peer (RELIABILITY.md 42, 43).
@Suite struct PeerMachineTests {
    typealias F = PeerFixtures

    func machine(
        protocols: [ProtocolID] = [.ping, "CHAT"],
        configure: (inout NodeConfiguration.Peers) -> Void = { _ in },
        isSendQueueHigh: Bool = false
    ) -> PeerMachine {
        var peers = NodeConfiguration.Peers()
        configure(&peers)
        let info = PeerInfo(
            id: F.large,
            direction: .outbound,
            endpoint: F.endpoint("10.0.0.2", 7000),
            protocols: protocols
        )
        return PeerMachine(
            info: info,
            settings: PeerMachine.Settings(peers),
            now: .zero,
            isSendQueueHigh: isSendQueueHigh
        )
    }

    /// `PeerMachine.admitSend`, outside `#expect` (which cannot take a mutating call).
    func admit(_ peer: inout PeerMachine, _ frameBytes: Int, outbox: Int) -> Bool {
        peer.admitSend(frameBytes: frameBytes, outboxBytes: outbox)
    }

    @Test func negotiatedProtocolFramesGoToTheApplication() {
        var peer = machine()
        #expect(peer.received(.protocol(id: "CHAT", payload: [1, 2, 3]), now: F.t(1)) == .deliver("CHAT", [1, 2, 3]))
        #expect(peer.received(.protocol(id: "CHAT", payload: []), now: F.t(1)) == .deliver("CHAT", []))
    }

    @Test func pingFramesStayInTheCore() {
        var peer = machine()
        let nonce = Nonce(5, 6, 7, 8)
        #expect(peer.received(.protocol(id: .ping, payload: F.ping(nonce)), now: F.t(1)) == .send(.pong(nonce)))
    }

    @Test func frameOfAProtocolThatWasNotNegotiatedClosesTheConnection() {
        var peer = machine(protocols: [.ping])
        #expect(
            peer.received(.protocol(id: "CHAT", payload: [1]), now: F.t(1))
                == .close(.protocolViolation("protocol CHAT was not negotiated"), sending: .malformedMessage)
        )
    }

    @Test func malformedPingPayloadIsAProtocolViolation() {
        var peer = machine()
        guard
            case .close(.protocolViolation, sending: .malformedMessage) = peer.received(
                .protocol(id: .ping, payload: [7]),
                now: F.t(1)
            )
        else {
            Issue.record("a 1-byte PING payload must close the connection")
            return
        }
    }

    @Test func handshakeMessagesAfterTheHandshakeAreViolations() {
        var peer = machine()
        let version = F.identity(F.large).versionMessage
        #expect(
            peer.received(version, now: F.t(1))
                == .close(.protocolViolation("version after the handshake"), sending: .malformedMessage)
        )
    }

    @Test func remoteShutdownRemovesThePeerWithItsReason() {
        var peer = machine()
        #expect(
            peer.received(.shutdown(.shuttingDown), now: F.t(1)) == .close(.remoteShutdown(.shuttingDown), sending: nil)
        )
    }

    @Test func threeMissedPingsCloseWithPingTimeout() {
        var rng = SplitMix64(seed: 1)
        var peer = machine()
        var actions: [PeerAction] = []
        while let deadline = peer.nextDeadline, actions.count < 10 {
            let action = peer.timeout(now: deadline, rng: &rng)
            actions.append(action)
            if case .close = action { break }
        }
        #expect(actions.count == 6, "ping, miss, ping, miss, ping, drop: \(actions)")
        #expect(actions.last == .close(.pingTimeout, sending: .timeout))
        #expect(peer.nextDeadline != nil)
    }

    @Test func sendQueueAboveHighWatermarkForTheStallTimeoutStallsThePeer() {
        var rng = SplitMix64(seed: 2)
        var peer = machine { $0.sendStallTimeout = .seconds(30) }
        peer.sendQueueChanged(isHigh: true, now: F.t(10))
        #expect(peer.nextDeadline == F.t(20), "the first ping comes before the stall deadline")
        peer.sendQueueChanged(isHigh: true, now: F.t(15))  // A repeated report does not restart the clock.
        _ = peer.timeout(now: F.t(20), rng: &rng)
        #expect(peer.timeout(now: F.t(39.9), rng: &rng) != .close(.sendStalled, sending: nil))
        #expect(peer.timeout(now: F.t(40), rng: &rng) == .close(.sendStalled, sending: nil))
    }

    @Test func sendQueueBackBelowTheWatermarkCancelsTheStall() {
        var rng = SplitMix64(seed: 3)
        var peer = machine { $0.sendStallTimeout = .seconds(5) }
        peer.sendQueueChanged(isHigh: true, now: F.t(1))
        #expect(peer.nextDeadline == F.t(6))
        peer.sendQueueChanged(isHigh: false, now: F.t(5))
        #expect(peer.nextDeadline == F.t(20))
        #expect(peer.timeout(now: F.t(6), rng: &rng) == .none)
    }

    @Test func peerEstablishedWithAHighQueueStartsTheStallClockAtOnce() {
        let peer = machine(configure: { $0.sendStallTimeout = .seconds(3) }, isSendQueueHigh: true)
        #expect(peer.nextDeadline == F.t(3))
    }

    @Test func bytesQueuedBeyondTheLimitStallThePeer() {
        var peer = machine { $0.sendQueueBytesMax = 1000 }
        // Below the watermark only the core's outbox counts.
        #expect(admit(&peer, 400, outbox: 600))
        #expect(!admit(&peer, 401, outbox: 600))
        // Above it, everything queued since counts too, although the driver took it from the outbox.
        peer.sendQueueChanged(isHigh: true, now: F.t(1))
        #expect(admit(&peer, 300, outbox: 0))
        #expect(admit(&peer, 300, outbox: 0))
        #expect(admit(&peer, 300, outbox: 0))
        #expect(!admit(&peer, 300, outbox: 0))
        #expect(peer.bytesQueuedWhileHigh == 900)
        // The driver drained: the count starts over.
        peer.sendQueueChanged(isHigh: false, now: F.t(2))
        #expect(admit(&peer, 1000, outbox: 0))
    }

    @Test func pausedDeliverySuspendsKeepAlive() {
        var rng = SplitMix64(seed: 4)
        var peer = machine()
        peer.pauseDelivery(true, now: F.t(1))
        #expect(peer.nextDeadline == nil)
        #expect(peer.timeout(now: F.t(300), rng: &rng) == .none)
        peer.pauseDelivery(false, now: F.t(300))
        #expect(peer.nextDeadline == F.t(320))
    }
}
