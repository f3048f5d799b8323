import Testing
@testable import KaryonsCore

/// Seeding through a bootstrap endpoint, traced packet by packet through `NodeCore`.
@Suite struct DiscoveryCoreSeedingTests {
    /// A listening node seeds at start: two random-target lookups through the seed, each a full
    /// exchange ending with our own record and Shutdown(none); the peers learned enter the table
    /// unverified and are pinged over UDP at once; then self-lookups go through them.
    @Test func seedingThroughBootstrapIsAFullExchangeTrace() throws {
        var node = TestNode(configuration: Fixture.listeningConfiguration { $0.externalAddress = .v4(0xC633_6407) })
        node.start()
        #expect(node.outputs.prefix(2) == [
            .listen(.peer, .tcp(.v4(0xCB00_7105), 3000)), .listen(.lookup, .tcp(.v4(0xCB00_7105), 3010)),
        ])
        node.confirmListeners()  // The refresh listener follows the bound lookup endpoint.
        #expect(node.outputs.contains(.event(.lookupStarted(Fixture.seed))))
        let connects = node.lookupConnects
        #expect(connects.count == 2 && connects.allSatisfy { $0.endpoint == Fixture.seed })
        #expect(node.outputs.contains(.connect(connects[0].id, .lookup, to: Fixture.seed, timeout: .seconds(2))))
        _ = node.takeOutputs()

        let first = connects[0].id
        node.handle(.connected(first))
        let ping = node.sent(on: first)
        guard case .ping(let nonce, let version)? = ping.first, ping.count == 1 else {
            Issue.record("expected one Ping, got \(ping)")
            return
        }
        #expect(version == Version(0, 1, 0))

        node.deliver(.pong(nonce: nonce), on: first)
        let findPeer = node.sent(on: first)
        guard case .findPeer(let target)? = findPeer.first, findPeer.count == 1 else {
            Issue.record("expected FindPeer, got \(findPeer)")
            return
        }
        #expect(target != Fixture.localID)  // A random target first.

        let learned = [Fixture.record(1), Fixture.record(2)]
        node.deliver(.peers(learned), on: first)
        let ownRecord = PeerRecord(id: Fixture.localID, address: .v4(0xC633_6407), port: 3000, discoveryPort: 3010)
        #expect(node.sent(on: first) == [.peer(ownRecord), .shutdown(.none)])
        #expect(node.closes == [first])
        for record in learned {
            #expect(node.table.entry(for: record.id)?.status == .unverified)
            #expect(node.events.contains(.entryAdded(record, .unverified)))
        }
        #expect(node.invariantProblems == [])

        // Verification pings go out promptly (the first at once, the next 100 ms later).
        node.advance(by: .milliseconds(100))
        let pinged = node.datagrams.map(\.to)
        #expect(pinged == learned.map(Fixture.refreshEndpoint))
    }

    /// After both random-target lookups, the session looks itself up through every distinct peer
    /// they returned; a self-lookup that answers verifies its responder. With nothing closer to
    /// walk to, a last round asks the near peer not yet asked.
    @Test func selfLookupsFollowAndVerifyTheirResponders() throws {
        var node = TestNode(configuration: Fixture.listeningConfiguration())
        node.startListening()
        let connects = node.lookupConnects
        _ = node.takeOutputs()
        answer(&node, connects[0].id, with: [Fixture.record(1), Fixture.record(2)])
        answer(&node, connects[1].id, with: [Fixture.record(2), Fixture.record(3)])

        let selfLookups = node.lookupConnects
        #expect(selfLookups.map(\.endpoint) == [1, 2, 3].map { Fixture.lookupEndpoint(Fixture.record($0)) })
        _ = node.takeOutputs()
        node.handle(.connected(selfLookups[1].id))
        guard case .ping(let nonce, _)? = node.sent(on: selfLookups[1].id).first else {
            Issue.record("no Ping")
            return
        }
        node.deliver(.pong(nonce: nonce), on: selfLookups[1].id)
        #expect(node.sent(on: selfLookups[1].id) == [.findPeer(target: Fixture.localID)])
        node.deliver(.peers([Fixture.record(4)]), on: selfLookups[1].id)
        #expect(node.table.entry(for: Fixture.peerID(2))?.status == .verified)
        #expect(node.events.contains(.entryVerified(Fixture.peerID(2))))
        #expect(node.table.entry(for: Fixture.peerID(4))?.status == .unverified)

        // The other two fail to connect, three attempts each, 0.5 s then 1 s apart; the session ends.
        var pending = [selfLookups[0], selfLookups[2]]
        for attempt in 1...3 {
            _ = node.takeOutputs()
            for lookup in pending { node.handle(.connectFailed(lookup.id, .refused)) }
            let willRetry = attempt < 3
            let failures = pending.map { NodeEvent.connectFailed(.lookup, $0.endpoint, .refused, willRetry: willRetry) }
            #expect(Array(node.events.prefix(2)) == failures)
            guard willRetry else { break }
            node.advance(by: attempt == 1 ? .milliseconds(499) : .milliseconds(999))
            #expect(node.lookupConnects.isEmpty)
            node.advance(by: .milliseconds(1))
            #expect(node.lookupConnects.map(\.endpoint) == pending.map(\.endpoint))
            pending = node.lookupConnects
        }
        // Peer 4 came back no closer than peer 2: the walk's last round asks it, and then it ends.
        let lastRound = node.lookupConnects
        #expect(lastRound.map(\.endpoint) == [Fixture.lookupEndpoint(Fixture.record(4))])
        _ = node.takeOutputs()
        answer(&node, try #require(lastRound.first).id, with: [])
        #expect(node.events.contains(.lookupSucceeded(Fixture.seed, learned: 4)))
        #expect(node.discovery.activeExchanges == 0 && node.discovery.sessions.count == 0)
        #expect(node.invariantProblems == [])
    }

    /// Plays a responder that answers one exchange correctly with `peers`.
    private func answer(_ node: inout TestNode, _ id: ConnectionID, with peers: [PeerRecord]) {
        node.handle(.connected(id))
        guard case .ping(let nonce, _)? = node.sent(on: id).first else {
            Issue.record("no Ping on \(id)")
            return
        }
        node.deliver(.pong(nonce: nonce), on: id)
        _ = node.sent(on: id)
        node.deliver(.peers(peers), on: id)
        _ = node.sent(on: id)
    }
}
