import Testing
@testable import KaryonsCore

/// The responder side of the lookup plane through `NodeCore`: what an inbound lookup connection
/// gets, and how bad requesters are ended (RELIABILITY.md scenarios 27, 31, 32, 33).
@Suite struct DiscoveryCoreResponderTests {
    let requester = Endpoint.tcp(Fixture.publicAddress(70), 51000)
    let nonce = Nonce(3, 1, 4, 1)

    /// A listening node whose table holds `verified` verified entries and `unverified` unverified ones.
    func node(verified: Int = 0, unverified: Int = 0) -> TestNode {
        var node = TestNode(configuration: Fixture.listeningConfiguration { $0.bootstrapPeers = [] })
        node.startListening()
        for n in 0..<(verified + unverified) {
            learn(&node, Fixture.record(n + 1), verify: n < verified)
        }
        _ = node.takeOutputs()
        return node
    }

    /// Teaches `node` a record through an inbound lookup (the record's own Peer message), and
    /// answers its verification ping when `verify`.
    func learn(_ node: inout TestNode, _ record: PeerRecord, verify: Bool) {
        let id = node.accept(.lookup, from: .tcp(record.address, 52000))
        let ping = LookupMessage.ping(nonce: nonce, version: Version(0, 1, 0))
        node.deliver(ping, .findPeer(target: record.id), .peer(record), .shutdown(.none), on: id)
        _ = node.sent(on: id)
        node.advance(by: .milliseconds(100))
        if verify, let ping = node.datagrams.last(where: { $0.to == Fixture.refreshEndpoint(record) }) {
            node.handle(.datagram(from: ping.to, encode(.pong(ping.datagram.nonce))))
        }
    }

    func encode(_ datagram: RefreshDatagram) -> [UInt8] {
        var writer = ByteWriter()
        datagram.encode(into: &writer)
        return writer.bytes
    }

    @Test func answersPingFindPeerAndStoresThePeerUnderItsObservedAddress() {
        var node = node(verified: 12, unverified: 1)
        let id = node.accept(.lookup, from: requester)
        #expect(node.discovery.responders.count == 1)
        node.deliver(.ping(nonce: nonce, version: Version(0, 1, 9)), on: id)
        #expect(node.sent(on: id) == [.pong(nonce: nonce)])
        node.deliver(.findPeer(target: Fixture.peerID(4)), on: id)
        let nearest = Array(node.table.closest(to: Fixture.peerID(4), count: 11).filter { $0.id != Fixture.peerID(4) }.prefix(10))
        // The nearest first; the farthest places may go to nodes that introduced themselves lately
        // (verified ones here: the requesters of `node(verified:unverified:)`), never the target.
        guard case .peers(let reply)? = node.sent(on: id).first else {
            Issue.record("no Peers reply")
            return
        }
        #expect(reply.count == 10 && Array(reply.prefix(7)) == Array(nearest.prefix(7)))
        for record in reply.dropFirst(7) where !nearest.contains(record) {
            #expect(node.discovery.introductions.records.contains(record))
            #expect(node.table.entry(for: record.id)?.status == .verified)
        }
        #expect(!reply.contains { $0.id == Fixture.peerID(4) })
        #expect(!reply.contains { $0.id == Fixture.peerID(13) })  // Scenario 33: unverified is never shared.

        let claimed = PeerRecord(id: Fixture.peerID(50), address: .v4(0x0A00_0002), port: 7000, discoveryPort: 7010)
        node.deliver(.peer(claimed), on: id)
        let stored = PeerRecord(id: claimed.id, address: requester.address, port: 7000, discoveryPort: 7010)
        #expect(node.table.entry(for: claimed.id)?.record == stored)
        #expect(node.table.entry(for: claimed.id)?.status == .unverified)
        #expect(node.events.contains(.entryAdded(stored, .unverified)))
        node.deliver(.shutdown(.none), on: id)
        #expect(node.closes == [id] && node.discovery.responders.isEmpty)
        #expect(node.sent(on: id) == [])  // A quiet close: the requester already said goodbye.
        node.advance(by: .milliseconds(200))
        #expect(node.datagrams.map(\.to) == [.udp(requester.address, 7010)])  // Verified promptly.
        #expect(node.invariantProblems == [])
    }

    @Test func refusesBeyondTheInboundLookupSlotsAndKeepsServingTheOthers() {
        var node = node(verified: 2)
        let admitted = (0..<20).map { node.accept(.lookup, from: .tcp(Fixture.publicAddress($0), 40000)) }
        _ = node.takeOutputs()
        let refused = node.accept(.lookup, from: requester)
        #expect(node.events == [.accepted(.lookup, requester), .refused(.lookup, requester, .noFreeSlot),
                                .disconnected(.lookup, requester)])
        #expect(node.closes == [refused])
        #expect(node.sent(on: refused) == [.shutdown(.noFreeSlot)])
        #expect(node.discovery.responders.count == 20)
        node.deliver(.ping(nonce: nonce, version: Version(0, 1, 0)), on: admitted[7])
        #expect(node.sent(on: admitted[7]) == [.pong(nonce: nonce)])
        // A slot freed is a slot reused.
        node.deliver(.shutdown(.none), on: admitted[0])
        _ = node.takeOutputs()
        let next = node.accept(.lookup, from: requester)
        #expect(node.closes.isEmpty && node.discovery.responders[next] != nil)
        #expect(node.invariantProblems == [])
    }

    @Test func incompatibleVersionIsRefusedWithItsReason() {
        var node = node()
        let id = node.accept(.lookup, from: requester)
        node.deliver(.ping(nonce: nonce, version: Version(1, 0, 0)), on: id)
        #expect(node.sent(on: id) == [.shutdown(.incompatibleVersion)])
        #expect(node.closes == [id] && node.discovery.responders.isEmpty)
    }

    /// Scenario 27: a requester that asks and then never shuts down is closed at the end of the
    /// 3 s lifespan; one that closes early just goes away. Either way its slot is freed.
    @Test func lifespanEndsARequesterThatNeverShutsDown() {
        var node = node(verified: 3)
        let id = node.accept(.lookup, from: requester)
        let early = node.accept(.lookup, from: .tcp(Fixture.publicAddress(71), 51000))
        node.deliver(.ping(nonce: nonce, version: Version(0, 1, 0)), .findPeer(target: Fixture.peerID(1)), on: id)
        node.deliver(.ping(nonce: nonce, version: Version(0, 1, 0)), .findPeer(target: Fixture.peerID(1)), on: early)
        _ = node.sent(on: id)
        node.handle(.closed(early, .closedByPeer))
        #expect(node.discovery.responders.count == 1)
        _ = node.takeOutputs()
        node.advance(by: .milliseconds(2999))
        #expect(node.closes.isEmpty)
        node.advance(by: .milliseconds(1))
        #expect(node.closes == [id] && node.sent(on: id) == [.shutdown(.timeout)])
        #expect(node.discovery.responders.isEmpty && node.invariantProblems == [])
    }

    /// Scenario 32 (responder side): a Ping trickled one byte every 900 ms never completes within
    /// the lifespan, which ends the connection.
    @Test func aTrickledRequestIsCutAtTheLifespan() {
        var node = node()
        let id = node.accept(.lookup, from: requester)
        var writer = ByteWriter()
        LookupMessage.ping(nonce: nonce, version: Version(0, 1, 0)).encodeFrame(into: &writer)
        var delivered = 0
        while node.closes.isEmpty, delivered < writer.bytes.count {
            node.deliver(bytes: [writer.bytes[delivered]], on: id)
            delivered += 1
            node.advance(by: .milliseconds(900))
        }
        #expect(delivered == 4 && node.now == ms(3600))
        #expect(node.sent(on: id) == [.shutdown(.timeout)] && node.discovery.responders.isEmpty)
    }

    /// Scenario 31: a Peers message nobody asked for closes the connection; nothing enters the table.
    @Test func unsolicitedPeersAreRefusedAndNeverStored() {
        var node = node()
        let id = node.accept(.lookup, from: requester)
        node.deliver(.peers([Fixture.record(60), Fixture.record(61)]), on: id)
        #expect(node.sent(on: id) == [.shutdown(.malformedMessage)])
        #expect(node.table.count == 0 && node.core.statistics.protocolViolations == 1)
        #expect(node.discovery.responders.isEmpty)
    }

    @Test func anUndecodableFrameClosesTheConnection() {
        var node = node()
        let id = node.accept(.lookup, from: requester)
        node.deliver(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x01], on: id)  // A 4 GiB frame announced.
        #expect(node.sent(on: id) == [.shutdown(.malformedMessage)])
        #expect(node.closes == [id] && node.discovery.responders.isEmpty)
        #expect(node.core.statistics.protocolViolations == 1)
    }

    /// Scenario 33: an entry learned only from someone else is neither shared nor dialled until it
    /// answers us; then it is both.
    @Test func learnedPeersAreSharedAndDialledOnlyOnceTheyAnswered() {
        var node = node()
        let record = Fixture.record(5)
        learn(&node, record, verify: false)
        #expect(node.table.entry(for: record.id)?.status == .unverified)
        #expect(node.discovery.dialer.tableDials.isEmpty)
        let asked = node.accept(.lookup, from: requester)
        node.deliver(.ping(nonce: nonce, version: Version(0, 1, 0)), .findPeer(target: record.id), on: asked)
        #expect(node.sent(on: asked).last == .peers([]))

        let ping = node.datagrams.last { $0.to == Fixture.refreshEndpoint(record) }
        node.handle(.datagram(from: Fixture.refreshEndpoint(record), encode(.pong(ping!.datagram.nonce))))
        #expect(node.table.entry(for: record.id)?.status == .verified)
        #expect(node.discovery.dialer.tableDials.map(\.endpoint) == [.tcp(record.address, 3000)])
        let again = node.accept(.lookup, from: requester)
        node.deliver(.ping(nonce: nonce, version: Version(0, 1, 0)), .findPeer(target: Fixture.peerID(9)), on: again)
        #expect(node.sent(on: again).last == .peers([record]))
    }
}
