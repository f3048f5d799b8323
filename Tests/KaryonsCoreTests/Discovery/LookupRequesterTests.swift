import Testing
@testable import KaryonsCore

/// `LookupRequester` traces: one outbound exchange, event by event, with an injected clock.
@Suite struct LookupRequesterTests {
    let settings = LookupRequester.Settings(NodeConfiguration())
    let target = Fixture.peerID(99)
    let remote = Fixture.seed
    let nonce = Nonce(1, 2, 3, 4)
    var rng = SplitMix64(seed: 7)

    func requester(responderID: PeerID? = nil, settings: LookupRequester.Settings? = nil) -> LookupRequester {
        LookupRequester(settings: settings ?? self.settings, localID: Fixture.localID, target: target, remote: remote,
                        responderID: responderID, nonce: nonce)
    }

    /// A requester that has sent FindPeer at 20 ms.
    func awaitingPeers() -> LookupRequester {
        var machine = requester()
        _ = machine.start(now: ms(0))
        _ = machine.connected(now: ms(10))
        _ = machine.received(.pong(nonce: nonce), now: ms(20))
        return machine
    }

    @Test mutating func fullExchange() {
        var machine = requester()
        #expect(machine.state == .idle && machine.deadline == nil)
        #expect(machine.start(now: ms(0)) == .connect(remote, timeout: .seconds(2)))
        #expect(machine.state == .connecting(attempt: 1))
        #expect(machine.connected(now: ms(10)) == .send(.ping(nonce: nonce, version: Version(0, 1, 0))))
        #expect(machine.state == .awaitingPong && machine.deadline == ms(1010))
        #expect(machine.received(.pong(nonce: nonce), now: ms(30)) == .send(.findPeer(target: target)))
        #expect(machine.state == .awaitingPeers && machine.deadline == ms(1030))
        let peers = [Fixture.record(1), Fixture.record(2)]
        #expect(machine.received(.peers(peers), now: ms(40)) == .succeed(peers: peers))
        #expect(machine.isFinished && machine.deadline == nil)
        // Late events change nothing.
        #expect(machine.received(.peers(peers), now: ms(50)) == .wait)
        #expect(machine.timeout(now: sec(9), rng: &rng) == .wait)
        #expect(machine.abort(.shuttingDown, closeWith: .shuttingDown) == .wait)
    }

    @Test mutating func repliesAreFiltered() {
        var machine = awaitingPeers()
        let kept = Fixture.record(2)
        let peers = [
            Fixture.record(1, address: .loopbackV4),  // loopback relayed by a public seed
            PeerRecord(id: Fixture.localID, address: Fixture.publicAddress(3), port: 1, discoveryPort: 1),  // us
            kept, kept,  // a duplicate
        ]
        #expect(machine.received(.peers(peers), now: ms(40)) == .succeed(peers: [kept]))
    }

    @Test mutating func pongWithAnotherNonceFailsTheExchange() {
        var machine = requester()
        _ = machine.start(now: ms(0))
        _ = machine.connected(now: ms(10))
        let action = machine.received(.pong(nonce: Nonce(9, 9, 9, 9)), now: ms(20))
        #expect(action == .fail(.nonceMismatch, closeWith: .malformedMessage))
        #expect(machine.isFinished)
    }

    @Test mutating func eachResponseHasItsOwnTimeout() {
        var machine = requester()
        _ = machine.start(now: ms(0))
        _ = machine.connected(now: ms(10))
        #expect(machine.timeout(now: ms(1009), rng: &rng) == .wait)
        #expect(machine.timeout(now: ms(1010), rng: &rng) == .fail(.timedOut(awaiting: .pong), closeWith: .timeout))

        var second = awaitingPeers()
        #expect(second.timeout(now: ms(1019), rng: &rng) == .wait)
        #expect(second.timeout(now: ms(1020), rng: &rng) == .fail(.timedOut(awaiting: .peers), closeWith: .timeout))
    }

    @Test mutating func failedConnectsAreRetriedWithBackoffThenGivenUp() {
        var machine = requester()
        _ = machine.start(now: ms(0))
        #expect(machine.willRetryConnect)
        #expect(machine.connectFailed(.refused, now: ms(5), rng: &rng) == .wait)
        #expect(machine.state == .waitingToReconnect(nextAttempt: 2) && machine.deadline == ms(505))
        #expect(machine.timeout(now: ms(504), rng: &rng) == .wait)
        #expect(machine.timeout(now: ms(505), rng: &rng) == .connect(remote, timeout: .seconds(2)))
        #expect(machine.connectFailed(.timedOut, now: ms(600), rng: &rng) == .wait)
        #expect(machine.deadline == ms(1600))  // 1 s: the backoff doubled
        #expect(machine.timeout(now: ms(1600), rng: &rng) == .connect(remote, timeout: .seconds(2)))
        #expect(machine.state == .connecting(attempt: 3) && !machine.willRetryConnect)
        let last = machine.connectFailed(.refused, now: ms(1700), rng: &rng)
        #expect(last == .fail(.connectFailed(.refused), closeWith: nil))
    }

    @Test mutating func connectTheDriverNeverAnsweredCountsAsTimedOut() {
        var machine = requester()
        _ = machine.start(now: ms(0))
        #expect(machine.deadline == ms(3000))  // connect timeout + response timeout
        #expect(machine.timeout(now: ms(3000), rng: &rng) == .wait)
        #expect(machine.state == .waitingToReconnect(nextAttempt: 2))
        // A late report of the abandoned attempt is ignored.
        #expect(machine.connectFailed(.refused, now: ms(3001), rng: &rng) == .wait)
        #expect(machine.connected(now: ms(3002)) == .wait)
    }

    @Test(arguments: [
        LookupMessage.ping(nonce: Nonce(1, 2, 3, 4), version: Version(0, 1, 0)),
        .findPeer(target: Fixture.peerID(3)), .peer(Fixture.record(3)), .peers([Fixture.record(3)]),
    ])
    mutating func anythingButPongIsOutOfOrderBeforePong(message: LookupMessage) {
        var machine = requester()
        _ = machine.start(now: ms(0))
        _ = machine.connected(now: ms(10))
        let action = machine.received(message, now: ms(20))
        #expect(action == .fail(.unexpected(message.kind), closeWith: .malformedMessage))
    }

    @Test mutating func unsolicitedRepliesAfterPongAreOutOfOrder() {
        var machine = awaitingPeers()
        let action = machine.received(.pong(nonce: nonce), now: ms(30))
        #expect(action == .fail(.unexpected(.pong), closeWith: .malformedMessage))
    }

    @Test mutating func remoteShutdownEndsTheExchangeQuietly() {
        var machine = awaitingPeers()
        let action = machine.received(.shutdown(.noFreeSlot), now: ms(30))
        #expect(action == .fail(.remoteShutdown(.noFreeSlot), closeWith: nil))
    }

    @Test mutating func moreRecordsThanConfiguredFailTheWholeReply() {
        var configuration = NodeConfiguration()
        configuration.discovery.peersPerReplyMax = 5
        var machine = requester(settings: LookupRequester.Settings(configuration))
        _ = machine.start(now: ms(0))
        _ = machine.connected(now: ms(10))
        _ = machine.received(.pong(nonce: nonce), now: ms(20))
        let six = (1...6).map { Fixture.record($0) }
        #expect(machine.received(.peers(six), now: ms(30)) == .fail(.tooManyPeers(6), closeWith: .malformedMessage))
        // Ten (the wire's limit) is fine for the default configuration: the original's `>= 10` bug is gone.
        var defaults = awaitingPeers()
        let ten = (1...10).map { Fixture.record($0) }
        #expect(defaults.received(.peers(ten), now: ms(30)) == .succeed(peers: ten))
    }

    @Test mutating func abortReportsTheCause() {
        var machine = awaitingPeers()
        let action = machine.abort(.connectionLost(.reset), closeWith: nil)
        #expect(action == .fail(.connectionLost(.reset), closeWith: nil))
        #expect(machine.isFinished)
    }
}
