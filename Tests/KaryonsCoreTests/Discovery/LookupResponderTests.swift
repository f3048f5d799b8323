import Testing
@testable import KaryonsCore

/// `LookupResponder` traces: one inbound lookup connection, message by message.
@Suite struct LookupResponderTests {
    let requesterEndpoint = Endpoint.tcp(Fixture.publicAddress(77), 51000)
    let nonce = Nonce(5, 6, 7, 8)
    var table = RoutingTable(localID: Fixture.localID)

    init() {
        // Twelve verified entries, one unverified and one failed (neither of which is ever shared).
        for n in 1...12 {
            _ = table.add(Fixture.record(n), status: .verified, now: ms(0))
        }
        _ = table.add(Fixture.record(13), status: .unverified, now: ms(0))
        _ = table.add(Fixture.record(14), status: .verified, now: ms(0))
        table.markFailed(Fixture.peerID(14), now: ms(1))
    }

    func responder(_ change: (inout NodeConfiguration) -> Void = { _ in }) -> LookupResponder {
        var configuration = NodeConfiguration()
        change(&configuration)
        return LookupResponder(remote: requesterEndpoint, accepted: ms(100), configuration: configuration,
                               localID: Fixture.localID)
    }

    @Test func fullExchange() {
        var machine = responder()
        #expect(machine.deadline == ms(3100))
        let pong = machine.received(.ping(nonce: nonce, version: Version(0, 1, 5)), table: table)
        #expect(pong == .reply(.pong(nonce: nonce)))
        let target = Fixture.peerID(5)
        guard case .reply(.peers(let records)) = machine.received(.findPeer(target: target), table: table) else {
            Issue.record("FindPeer not answered with Peers")
            return
        }
        // The true nearest shareable entries, nearest first, without the target itself.
        let expected = table.closest(to: target, count: 11).filter { $0.id != target }.prefix(10)
        #expect(records == Array(expected))
        #expect(!records.contains { [target, Fixture.peerID(13), Fixture.peerID(14)].contains($0.id) })

        // The requester introduces itself: stored under the observed address, its ports as given.
        let claimed = PeerRecord(id: Fixture.peerID(40), address: .v4(0x0A00_0001), port: 7000, discoveryPort: 7010)
        let observed = PeerRecord(id: claimed.id, address: requesterEndpoint.address, port: 7000, discoveryPort: 7010)
        #expect(machine.received(.peer(claimed), table: table) == .learn(observed))
        #expect(machine.received(.shutdown(.none), table: table) == .close(sending: nil, isViolation: false))
    }

    @Test func incompatibleVersionIsRefusedWithItsReason() {
        var machine = responder()
        let action = machine.received(.ping(nonce: nonce, version: Version(0, 2, 0)), table: table)
        #expect(action == .close(sending: .incompatibleVersion, isViolation: false))
    }

    @Test func requirementComesFromTheConfiguration() throws {
        var machine = responder { $0.networkVersion = try! ProtocolVersion(parsing: "0.3.0, >=0.1.0") }
        let pong = machine.received(.ping(nonce: nonce, version: Version(0, 2, 0)), table: table)
        #expect(pong == .reply(.pong(nonce: nonce)))
    }

    @Test func ourOwnRecordIsIgnored() {
        var machine = responder()
        _ = machine.received(.ping(nonce: nonce, version: Version(0, 1, 0)), table: table)
        _ = machine.received(.findPeer(target: Fixture.localID), table: table)
        let us = PeerRecord(id: Fixture.localID, address: .loopbackV4, port: 1, discoveryPort: 2)
        #expect(machine.received(.peer(us), table: table) == .wait)
        #expect(machine.state == .awaitingShutdown)
    }

    /// Out-of-order and unsolicited messages (scenario 31: a Peers nobody asked for) close the
    /// connection; nothing reaches the table.
    @Test(arguments: [
        [LookupMessage.pong(nonce: Nonce(5, 6, 7, 8))],
        [.peers([Fixture.record(20)])],
        [.findPeer(target: Fixture.peerID(1))],
        [.peer(Fixture.record(20))],
        [.ping(nonce: Nonce(5, 6, 7, 8), version: Version(0, 1, 0)),
         .ping(nonce: Nonce(5, 6, 7, 8), version: Version(0, 1, 0))],
        [.ping(nonce: Nonce(5, 6, 7, 8), version: Version(0, 1, 0)), .peer(Fixture.record(20))],
        [.ping(nonce: Nonce(5, 6, 7, 8), version: Version(0, 1, 0)), .peers([Fixture.record(20)])],
        [.ping(nonce: Nonce(5, 6, 7, 8), version: Version(0, 1, 0)), .findPeer(target: Fixture.peerID(1)),
         .peer(Fixture.record(20)), .peer(Fixture.record(21))],
    ])
    func outOfOrderClosesAsAViolation(messages: [LookupMessage]) {
        var machine = responder()
        var last = ResponderAction.wait
        for message in messages { last = machine.received(message, table: table) }
        #expect(last == .close(sending: .malformedMessage, isViolation: true))
    }

    @Test func shutdownIsAcceptedAtAnyPoint() {
        var machine = responder()
        #expect(machine.received(.shutdown(.timeout), table: table) == .close(sending: nil, isViolation: false))
    }

    @Test func lifespanEndsTheConnection() {
        let machine = responder()
        #expect(machine.timeout(now: ms(3099)) == .wait)
        #expect(machine.timeout(now: ms(3100)) == .close(sending: .timeout, isViolation: false))
    }

    @Test func repliesHoldAtMostTheConfiguredCount() {
        var machine = responder { $0.discovery.peersPerReplyMax = 3 }
        _ = machine.received(.ping(nonce: nonce, version: Version(0, 1, 0)), table: table)
        let reply = machine.received(.findPeer(target: Fixture.peerID(99)), table: table)
        guard case .reply(.peers(let records)) = reply else {
            Issue.record("no Peers")
            return
        }
        #expect(records == table.closest(to: Fixture.peerID(99), count: 3))
    }
}
