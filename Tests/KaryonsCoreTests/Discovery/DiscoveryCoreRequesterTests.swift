import Testing
@testable import KaryonsCore

/// The requester side of the lookup plane through `NodeCore`: what bad responders get
/// (RELIABILITY.md scenarios 28, 29, 30, 32) and that every exchange ends and frees its slot.
@Suite struct DiscoveryCoreRequesterTests {
    /// An outbound-only node that started seeding: its two lookup connections to the seed.
    func seedingNode() -> (TestNode, [ConnectionID]) {
        var node = TestNode(configuration: Fixture.outboundConfiguration())
        node.start()
        let ids = node.lookupConnects.map(\.id)
        _ = node.takeOutputs()
        return (node, ids)
    }

    /// Plays the seed up to the Peers reply on `id`; returns what the node sent after it.
    @discardableResult
    func reply(_ node: inout TestNode, on id: ConnectionID, with records: [PeerRecord]) -> [LookupMessage] {
        node.handle(.connected(id))
        guard case .ping(let nonce, _)? = node.sent(on: id).first else { return [] }
        node.deliver(.pong(nonce: nonce), on: id)
        _ = node.sent(on: id)
        node.deliver(.peers(records), on: id)
        return node.sent(on: id)
    }

    @Test func anOutboundOnlyNodeNeverAdvertisesItselfNorListens() {
        var node = TestNode(configuration: Fixture.outboundConfiguration())
        node.start()
        #expect(!node.outputs.contains { if case .listen = $0 { return true } else { return false } })
        let id = node.lookupConnects[0].id
        #expect(reply(&node, on: id, with: [Fixture.record(1)]) == [.shutdown(.none)])
        #expect(node.discovery.selfRecord == nil)
    }

    /// Scenario 28 through the node: our ID, duplicates and the responder itself are filtered; a
    /// reply with an all-zero ID does not even decode and fails the exchange with no table change.
    @Test func filteredRepliesAndUndecodableOnes() {
        var (node, ids) = seedingNode()
        let itself = PeerRecord(
            id: Fixture.peerID(9), address: Fixture.seed.address, port: 4000, discoveryPort: Fixture.seed.port)
        let us = PeerRecord(id: Fixture.localID, address: Fixture.publicAddress(2), port: 1, discoveryPort: 2)
        reply(&node, on: ids[0], with: [us, Fixture.record(1), Fixture.record(1), itself])
        #expect(node.table.entries().map(\.id) == [Fixture.peerID(1)])

        node.handle(.connected(ids[1]))
        guard case .ping(let nonce, _)? = node.sent(on: ids[1]).first else { return }
        node.deliver(.pong(nonce: nonce), on: ids[1])
        _ = node.sent(on: ids[1])
        var writer = ByteWriter()
        LookupMessage.peers([Fixture.record(3)]).encodeFrame(into: &writer)
        var bytes = writer.bytes
        for index in 6..<38 { bytes[index] = 0 }  // The record's ID, zeroed.
        _ = node.takeOutputs()
        node.deliver(bytes: bytes, on: ids[1])
        #expect(node.sent(on: ids[1]) == [.shutdown(.malformedMessage)])
        #expect(node.closes == [ids[1]] && !node.table.contains(Fixture.peerID(3)))
        #expect(node.core.statistics.protocolViolations == 1)
        #expect(node.invariantProblems == [])
    }

    /// Scenario 29: ten peers from one public /24 spread over ten buckets: the table admits six
    /// (the per-table limit), yet all ten are looked up through.
    @Test func oneSubnetGetsAtMostSixEntriesButAllStayLookupCandidates() {
        var (node, ids) = seedingNode()
        let subnet: UInt32 = 0x2DFE_FE00
        let records = (0..<10).map { bucket in
            PeerRecord(
                id: key(differingAt: bucket, from: Fixture.localID, tail: 7), address: .v4(subnet | UInt32(bucket + 1)),
                port: 3000, discoveryPort: 3010)
        }
        reply(&node, on: ids[0], with: records)
        #expect(node.table.count == 6)
        _ = node.takeOutputs()
        reply(&node, on: ids[1], with: [])
        #expect(Set(node.lookupConnects.map(\.endpoint)) == Set(records.map(Fixture.lookupEndpoint)))

        // All in one bucket: one only.
        var (other, otherIDs) = seedingNode()
        reply(&other, on: otherIDs[0], with: (1...10).map { Fixture.record($0, address: .v4(subnet | UInt32($0))) })
        #expect(other.table.count == 1)
    }

    /// Scenario 30 through the node: a public seed relaying loopback, LAN and unspecified
    /// addresses gets none of them into the table.
    @Test func privateAddressesRelayedByAPublicSeedAreDropped() {
        var (node, ids) = seedingNode()
        reply(&node, on: ids[0], with: [
            Fixture.record(1, address: .loopbackV4), Fixture.record(2, address: .v4(0xC0A8_0001)),
            Fixture.record(3, address: .anyV4), Fixture.record(4),
        ])
        #expect(node.table.entries().map(\.id) == [Fixture.peerID(4)])
    }

    /// Scenario 32 (requester side): a Pong trickled one byte every 900 ms does not extend the 1 s
    /// response timeout; the exchange fails and its slot is freed.
    @Test func aTrickledResponseTimesOut() {
        var (node, ids) = seedingNode()
        node.handle(.connected(ids[0]))
        guard case .ping(let nonce, _)? = node.sent(on: ids[0]).first else { return }
        var writer = ByteWriter()
        LookupMessage.pong(nonce: nonce).encodeFrame(into: &writer)
        node.deliver(bytes: [writer.bytes[0]], on: ids[0])
        node.advance(by: .milliseconds(900))
        node.deliver(bytes: [writer.bytes[1]], on: ids[0])
        #expect(node.closes.isEmpty)
        node.advance(by: .milliseconds(100))
        #expect(node.closes == [ids[0]] && node.sent(on: ids[0]) == [.shutdown(.timeout)])
        #expect(node.discovery.activeExchanges == 1)  // The other exchange is untouched.
        node.deliver(bytes: Array(writer.bytes[2...]), on: ids[0])  // Too late: a stale delivery.
        #expect(node.core.statistics.staleEvents == 1 && node.invariantProblems == [])
    }

    @Test func responseTimeoutsAndClosesEndExchanges() {
        var (node, ids) = seedingNode()
        node.handle(.connected(ids[0]))
        node.handle(.connected(ids[1]))
        _ = node.sent(on: ids[0])
        node.handle(.closed(ids[1], .reset))  // The seed drops one.
        #expect(node.discovery.activeExchanges == 1)
        _ = node.takeOutputs()
        node.advance(by: .seconds(1))  // No Pong on the other.
        #expect(node.sent(on: ids[0]) == [.shutdown(.timeout)])
        #expect(node.events.contains(.lookupFailed(Fixture.seed, reason: "timed out awaiting pong")))
        #expect(node.discovery.activeExchanges == 0 && node.discovery.sessions.count == 0)
        #expect(node.events.contains(.seedingBackoff(.milliseconds(500))))
    }

    /// Exchanges beyond the outbound lookup slots wait for one to free up.
    @Test func exchangesBeyondTheLookupSlotsWait() {
        var node = TestNode(configuration: Fixture.outboundConfiguration { $0.slots.lookupOutbound = 3 })
        node.start()
        let first = node.lookupConnects.map(\.id)
        _ = node.takeOutputs()
        reply(&node, on: first[0], with: (1...5).map { Fixture.record($0) })
        reply(&node, on: first[1], with: [])
        // Five self-lookups, three slots: three connect now, two wait.
        let selfLookups = node.lookupConnects
        #expect(selfLookups.map(\.endpoint) == (1...3).map { Fixture.lookupEndpoint(Fixture.record($0)) })
        #expect(node.discovery.activeExchanges == 3 && node.core.connectionCount(.lookup) == 3)
        _ = node.takeOutputs()
        node.handle(.connectFailed(selfLookups[0].id, .refused))  // It retries, keeping its slot.
        #expect(node.lookupConnects.isEmpty)
        node.handle(.connected(selfLookups[1].id))
        node.handle(.closed(selfLookups[1].id, .reset))  // Fails: its slot goes to the fourth.
        #expect(node.lookupConnects.map(\.endpoint) == [Fixture.lookupEndpoint(Fixture.record(4))])
        #expect(node.discovery.activeExchanges == 3 && node.invariantProblems == [])
        node.advance(by: .seconds(60))  // Nobody answers anything: everything ends.
        #expect(node.discovery.activeExchanges <= 3 && node.invariantProblems == [])
        #expect(node.events.contains(.lookupSucceeded(Fixture.seed, learned: 5)))
        #expect(node.discovery.sessions.count <= 1 && node.invariantProblems == [])
    }

    /// Through `NodeCore`: a self-lookup that returns nearer peers sends the session on to the three
    /// nearest (alpha), each asked for our own ID; the walk's rounds are counted as hops.
    @Test func theSelfLookupWalksOnToNearerPeers() {
        var (node, ids) = seedingNode()
        _ = reply(&node, on: ids[0], with: [Fixture.record(1)])
        _ = reply(&node, on: ids[1], with: [])
        let firstRound = node.lookupConnects
        #expect(firstRound.map(\.endpoint) == [Fixture.lookupEndpoint(Fixture.record(1))])
        _ = node.takeOutputs()
        let nearer = [8, 9, 10, 11].map(LookupSessionWalkTests.near)
        #expect(reply(&node, on: firstRound[0].id, with: nearer).first == .shutdown(.none))
        let secondRound = node.lookupConnects
        #expect(secondRound.map(\.endpoint) == [11, 10, 9].map { Fixture.lookupEndpoint(LookupSessionWalkTests.near($0)) })
        _ = node.takeOutputs()
        for connect in secondRound {
            node.handle(.connected(connect.id))
            guard case .ping(let nonce, _)? = node.sent(on: connect.id).first else {
                Issue.record("no Ping on \(connect.id)")
                return
            }
            node.deliver(.pong(nonce: nonce), on: connect.id)
            #expect(node.sent(on: connect.id) == [.findPeer(target: Fixture.localID)])
            node.deliver(.peers([]), on: connect.id)
        }
        // Nothing nearer came back: the last round asks near(8), passed by, and the session ends.
        let lastRound = node.lookupConnects
        #expect(lastRound.map(\.endpoint) == [Fixture.lookupEndpoint(LookupSessionWalkTests.near(8))])
        _ = node.takeOutputs()
        _ = reply(&node, on: lastRound[0].id, with: [])
        #expect(node.events.contains(.lookupSucceeded(Fixture.seed, learned: 5)))
        #expect(node.core.statistics.lookupHops == 4 && node.core.statistics.lookupsSucceeded == 1)
        #expect(node.discovery.activeExchanges == 0 && node.discovery.sessions.count == 0)
        #expect(node.invariantProblems == [])
    }
}
