import Testing
@testable import KaryonsCore

/// `DiscoveryCore` listeners, advertising, shutdown, the refresh plane through `NodeCore`, and
/// seeding that never gives up (RELIABILITY.md scenarios 22–25, 34, 44).
@Suite struct DiscoveryCoreLifecycleTests {
    let host = IPAddress.v4(0xCB00_7105)

    func encode(_ datagram: RefreshDatagram) -> [UInt8] {
        var writer = ByteWriter()
        datagram.encode(into: &writer)
        return writer.bytes
    }

    @Test func lookupAndRefreshListenersFollowTheDataListener() {
        var node = TestNode(configuration: NodeConfiguration(peerListener: .tcp(host, 0)))
        node.start()
        #expect(node.takeOutputs().filter { if case .listen = $0 { return true } else { return false } }
                == [.listen(.peer, .tcp(host, 0)), .listen(.lookup, .tcp(host, 0))])
        node.handle(.listening(.peer, .tcp(host, 3456)))
        #expect(node.discovery.selfRecord == nil)  // The lookup port is not known yet.
        node.handle(.listening(.lookup, .tcp(host, 40001)))
        #expect(node.outputs == [
            .event(.listening(.peer, .tcp(host, 3456))), .event(.listening(.lookup, .tcp(host, 40001))),
            .listen(.refresh, .udp(host, 40001)),
        ])
        let advertised = PeerRecord(id: Fixture.localID, address: host, port: 3456, discoveryPort: 40001)
        #expect(node.discovery.selfRecord == advertised)
    }

    @Test func explicitListenersAndTheExternalAddress() {
        var node = TestNode(configuration: NodeConfiguration(
            peerListener: .tcp(.anyV4, 3000), lookupListener: .tcp(.anyV4, 3010), refreshListener: .udp(.anyV4, 3010),
            externalAddress: .v4(0xC633_6407)))
        node.start()
        let listens = node.outputs.filter { if case .listen = $0 { return true } else { return false } }
        #expect(listens == [.listen(.peer, .tcp(.anyV4, 3000)), .listen(.lookup, .tcp(.anyV4, 3010)),
                            .listen(.refresh, .udp(.anyV4, 3010))])
        node.confirmListeners()
        #expect(node.outputs.allSatisfy { if case .listen = $0 { return false } else { return true } })
        let advertised = PeerRecord(id: Fixture.localID, address: .v4(0xC633_6407), port: 3000, discoveryPort: 3010)
        #expect(node.discovery.selfRecord == advertised)
    }

    /// Shutdown closes every lookup connection (Shutdown(shuttingDown) on established ones) and the
    /// manual peer's dial the peer half holds, cancels every discovery timer and leaves no state behind.
    @Test func shutdownClosesLookupsAndStopsTimers() {
        var node = TestNode(configuration: Fixture.listeningConfiguration { $0.dialPeers = [.tcp(host, 9999)] })
        node.startListening()
        let outbound = node.lookupConnects.map(\.id)
        let peerDials = node.outputs.compactMap { output -> ConnectionID? in
            if case .connect(let id, .peer, .tcp(host, 9999), _) = output { return id } else { return nil }
        }
        #expect(peerDials.count == 1)  // The manual peer, dialled once by the peer half.
        node.handle(.connected(outbound[0]))
        let inbound = node.accept(.lookup, from: .tcp(Fixture.publicAddress(3), 50000))
        _ = node.sent(on: outbound[0])
        _ = node.takeOutputs()
        #expect(node.core.nextDeadline != nil)
        node.handle(.command(.shutdown))
        #expect(node.closes.count == 4 && Set(node.closes) == Set(outbound + [inbound] + peerDials))
        #expect(node.core.connectionCount(.peer) == 0)
        #expect(node.sent(on: outbound[0]) == [.shutdown(.shuttingDown)])
        #expect(node.sent(on: inbound) == [.shutdown(.shuttingDown)])
        #expect(node.sent(on: outbound[1]) == [])  // Never connected: nothing to say.
        #expect(node.outputs.last == .stopped)
        #expect(node.events.contains(.lookupFailed(Fixture.seed, reason: "shutting down")))
        #expect(node.core.nextDeadline == nil && node.core.connectionCount(.lookup) == 0)
        #expect(node.invariantProblems == [])
        _ = node.takeOutputs()
        node.handle(.datagram(from: .udp(Fixture.publicAddress(4), 1), encode(.ping(Nonce(1, 1, 1, 1)))))
        node.advance(by: .seconds(3600))
        #expect(node.outputs.isEmpty)
    }

    /// Scenario 25: datagrams of the wrong size are dropped silently and counted; scenario 23: a
    /// ping is answered with a pong of the same size, to the source, and nothing else.
    @Test func datagramsOfTheWrongSizeAreDroppedAndPingsAnswered() {
        var node = TestNode(configuration: Fixture.listeningConfiguration { $0.bootstrapPeers = [] })
        node.startListening()
        _ = node.takeOutputs()
        let source = Endpoint.udp(Fixture.publicAddress(8), 7777)
        for size in [0, 32, 34, 2048] {
            let bytes = [UInt8](repeating: 1, count: size)
            node.handle(.datagram(from: source, bytes))
        }
        #expect(node.datagrams.isEmpty && node.core.statistics.datagramsDropped == 4)
        #expect(node.events.count == 4)
        #expect(node.events.allSatisfy { if case .datagramDropped = $0 { return true } else { return false } })
        node.handle(.datagram(from: source, [0x07] + [UInt8](repeating: 0, count: 32)))  // An unknown kind.
        #expect(node.datagrams.isEmpty && node.core.statistics.datagramsDropped == 5)
        node.handle(.datagram(from: source, encode(.ping(Nonce(4, 4, 4, 4)))))
        #expect(node.datagrams.map(\.datagram) == [.pong(Nonce(4, 4, 4, 4))] && node.datagrams.map(\.to) == [source])
        #expect(node.table.count == 0)
    }

    /// Scenarios 24 and 26 through the node: stray pongs are dropped and counted; the right one
    /// verifies the entry once, and its replay changes nothing.
    @Test func strayAndReplayedPongsChangeNothing() throws {
        var node = TestNode(configuration: Fixture.listeningConfiguration { $0.bootstrapPeers = [] })
        node.startListening()
        let record = Fixture.record(3)
        let id = node.accept(.lookup, from: .tcp(record.address, 50000))
        let ping = LookupMessage.ping(nonce: Nonce(1, 1, 1, 1), version: Version(0, 1, 0))
        node.deliver(ping, .findPeer(target: record.id), .peer(record), on: id)
        #expect(node.core.nextDeadline == node.now)  // The verification ping is due at once.
        node.advance(by: .zero)
        let sent = try #require(node.datagrams.first { $0.to == Fixture.refreshEndpoint(record) })
        let pong = encode(.pong(sent.datagram.nonce))
        _ = node.takeOutputs()
        node.handle(.datagram(from: Fixture.refreshEndpoint(record), encode(.pong(Nonce(0, 0, 0, 1)))))
        node.handle(.datagram(from: .udp(Fixture.publicAddress(4), record.discoveryPort), pong))
        #expect(node.table.entry(for: record.id)?.status == .unverified)
        #expect(node.core.statistics.datagramsDropped == 2 && node.datagrams.isEmpty)
        node.advance(by: .milliseconds(300))
        node.handle(.datagram(from: Fixture.refreshEndpoint(record), pong))
        #expect(node.table.entry(for: record.id)?.status == .verified)
        let seen = node.table.entry(for: record.id)?.lastSeen
        node.advance(by: .seconds(1))
        node.handle(.datagram(from: Fixture.refreshEndpoint(record), pong))
        #expect(node.table.entry(for: record.id)?.lastSeen == seen && node.core.statistics.datagramsDropped == 3)
        #expect(node.events.filter { $0 == .entryVerified(record.id) }.count == 1)
    }

    /// Scenario 22 through the node: a burst of pings from one IP gets five answers.
    @Test func aPingFloodGetsTheBurstOnly() {
        var node = TestNode(configuration: Fixture.listeningConfiguration { $0.bootstrapPeers = [] })
        node.startListening()
        _ = node.takeOutputs()
        for n in 0..<1000 {
            let ping = encode(.ping(Nonce(UInt64(n), 0, 0, 0)))
            node.handle(.datagram(from: .udp(Fixture.publicAddress(8), UInt16(n + 1)), ping))
        }
        #expect(node.datagrams.count == 5 && node.core.statistics.datagramsDropped == 995)
    }

    /// Scenario 44: with every seed unreachable the node backs off 0.5 s, 1 s, 2 s … 60 s and
    /// seeds again, for as long as it runs.
    @Test func unreachableSeedsAreRetriedForever() {
        var node = TestNode(configuration: Fixture.outboundConfiguration())
        node.start()
        var starts: [Instant] = []
        var backoffs: [Duration] = []
        for _ in 0..<2000 {
            for connect in node.lookupConnects { node.handle(.connectFailed(connect.id, .refused)) }
            for event in node.events {
                if case .lookupStarted = event { starts.append(node.now) }
                if case .seedingBackoff(let delay) = event { backoffs.append(delay) }
            }
            _ = node.takeOutputs()
            guard let next = node.core.nextDeadline, node.now < sec(1200) else { break }
            node.advance(to: next)
        }
        #expect(Array(backoffs.prefix(9)) == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8),
                                              .seconds(16), .seconds(32), .seconds(60), .seconds(60)])
        #expect(backoffs.count >= 20 && backoffs.suffix(10).allSatisfy { $0 == .seconds(60) })
        #expect(starts.count == backoffs.count || starts.count == backoffs.count + 1)
        #expect(node.discovery.activeExchanges <= 2 && node.invariantProblems == [])
    }

    /// Scenario 44: when every entry is gone (failed, then evicted by refresh), seeding falls
    /// back to the bootstrap endpoints again.
    @Test func aTableThatEmptiesFallsBackToTheSeeds() {
        var node = TestNode(configuration: Fixture.outboundConfiguration())
        node.start()
        let record = Fixture.record(1)
        var answeredSeed = false
        var evictedAt: Instant?
        var seededAfterEviction = false
        for _ in 0..<5000 {
            for connect in node.lookupConnects {
                guard connect.endpoint == Fixture.seed, !answeredSeed else {
                    node.handle(.connectFailed(connect.id, .refused))
                    continue
                }
                answeredSeed = true
                node.handle(.connected(connect.id))
                guard case .ping(let nonce, _)? = node.sent(on: connect.id).first else { continue }
                node.deliver(.pong(nonce: nonce), on: connect.id)
                _ = node.sent(on: connect.id)
                node.deliver(.peers([record]), on: connect.id)
            }
            for event in node.events {
                if case .entryEvicted(record.id) = event { evictedAt = node.now }
                if case .lookupStarted(Fixture.seed) = event, evictedAt != nil { seededAfterEviction = true }
            }
            _ = node.takeOutputs()
            guard !seededAfterEviction, let next = node.core.nextDeadline, node.now < sec(3 * 1800 + 600) else { break }
            node.advance(to: next)
        }
        #expect(answeredSeed && evictedAt != nil && seededAfterEviction)
        #expect(node.table.count == 0 && node.invariantProblems == [])
    }

    /// `connectionTimeout` may come early (the contract allows spurious calls): the responder's
    /// lifespan is re-armed, not lost.
    @Test func anEarlyConnectionTimeoutReArmsTheLifespan() {
        let configuration = Fixture.listeningConfiguration()
        var cx = CoreContext(localID: Fixture.localID, configuration: configuration, seed: 1, now: ms(0))
        var discovery = DiscoveryCore(configuration: configuration, localID: Fixture.localID, rng: SplitMix64(seed: 2))
        discovery.start(&cx)
        let id = cx.adopt(.lookup, from: .tcp(Fixture.publicAddress(1), 50000))
        discovery.accepted(id, from: .tcp(Fixture.publicAddress(1), 50000), &cx)
        cx.deadlines.cancel(.connection(id))  // As if the queue had popped it.
        cx.now = ms(1000)
        discovery.connectionTimeout(id, &cx)
        #expect(cx.deadlines.deadline(of: .connection(id)) == ms(3000) && discovery.responders[id] != nil)
        cx.now = ms(3000)
        discovery.connectionTimeout(id, &cx)
        #expect(discovery.responders[id] == nil && cx.connections[id] != nil)  // Closing: Shutdown to flush.
        #expect(discovery.checkInvariants(cx) == [])
    }

    /// Scenario 34: a newcomer replaces a failed entry of a full bucket (reported as evicted), and
    /// never a live one.
    @Test func aFullBucketMakesRoomOnlyByReplacingAFailedEntry() {
        let configuration = NodeConfiguration()
        var cx = CoreContext(localID: Fixture.localID, configuration: configuration, seed: 1, now: ms(5))
        var discovery = DiscoveryCore(configuration: configuration, localID: Fixture.localID, rng: SplitMix64(seed: 2))
        for n in 1...20 { _ = discovery.table.add(Fixture.record(n), status: .verified, now: ms(0)) }
        discovery.learn(Fixture.record(21), &cx)
        #expect(cx.nextOutput() == nil && !discovery.table.contains(Fixture.peerID(21)))

        discovery.table.markFailed(Fixture.peerID(7), now: ms(1))
        discovery.learn(Fixture.record(22), &cx)
        #expect(cx.nextOutput() == .event(.entryEvicted(Fixture.peerID(7))))
        #expect(cx.nextOutput() == .event(.entryAdded(Fixture.record(22), .unverified)))
        #expect(discovery.table.entry(for: Fixture.peerID(22))?.status == .unverified)
        #expect(discovery.refresh.verificationBacklog == 1)  // It is pinged next.
        #expect(discovery.table.count == 20 && !discovery.table.contains(Fixture.peerID(7)))
    }
}
