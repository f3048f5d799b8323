import Testing
@testable import KaryonsCore

/// Introductions passed on in Peers replies, bootstrap passes once per seeding interval, lookup
/// hops, and the requester's retry after a busy responder's refusal.
@Suite struct IntroductionsAndSeedingTests {
    /// At most `recordsMax`, the newest kept; one per diversity subnet (loopback exempt); a repeated
    /// ID moves to the newest place.
    @Test func introductionsAreBoundedAndDiverse() {
        var introductions = Introductions()
        for n in 1...(Introductions.recordsMax + 5) { introductions.remember(Fixture.record(n)) }
        #expect(introductions.records.count == Introductions.recordsMax)
        #expect(introductions.records.first?.id == Fixture.peerID(6))
        // Same /24 as record 7: replaces it.
        let sameSubnet = PeerRecord(id: Fixture.peerID(99), address: .v4(0x2D00_0700 | 9), port: 1, discoveryPort: 2)
        introductions.remember(sameSubnet)
        #expect(!introductions.records.contains { $0.id == Fixture.peerID(7) })
        #expect(introductions.records.last == sameSubnet && introductions.records.count == Introductions.recordsMax)
        var loopback = Introductions()
        for n in 1...3 {
            loopback.remember(PeerRecord(id: Fixture.peerID(n), address: .v4(0x7F00_0000 | UInt32(n)), port: 1, discoveryPort: 2))
        }
        #expect(loopback.records.count == 3)
    }

    /// A reply keeps its nearest records and gives at most `perReplyMax` of its farthest places to
    /// the newest introductions it lacks, never the target and never a withheld one.
    @Test func repliesMixInTheNewestIntroductions() {
        var introductions = Introductions()
        for n in 50...55 { introductions.remember(Fixture.record(n)) }
        let reply = (1...10).map { Fixture.record($0) }
        let mixed = introductions.mix(into: reply, target: Fixture.peerID(55), limit: 10) { $0.id == Fixture.peerID(54) }
        #expect(mixed.count == 10)
        #expect(Array(mixed.prefix(7)) == Array(reply.prefix(7)))
        #expect(mixed.suffix(3).map(\.id) == [Fixture.peerID(53), Fixture.peerID(52), Fixture.peerID(51)])
        // A short reply is topped up instead; an introduction already in the reply is not repeated.
        let short = [Fixture.record(52)]
        #expect(introductions.mix(into: short, target: Fixture.peerID(1), limit: 10).map(\.id)
            == [52, 55, 54, 53].map(Fixture.peerID))
        #expect(introductions.mix(into: reply, target: Fixture.peerID(1), limit: 0) == reply)
        #expect(Introductions().mix(into: reply, target: Fixture.peerID(1), limit: 10) == reply)
    }

    /// Seeding goes through the bootstrap endpoints at start and then at least once per seeding
    /// interval, even when the table holds entries to seed through.
    @Test func bootstrapPassesComeOncePerSeedingInterval() {
        var seeding = Seeding(configuration: NodeConfiguration.Discovery())
        #expect(seeding.isBootstrapDue(now: ms(0)))
        seeding.bootstrapPassBegan(now: ms(1_000))
        #expect(!seeding.isBootstrapDue(now: ms(60_999)))
        #expect(seeding.isBootstrapDue(now: ms(61_000)))

        var table = RoutingTable(localID: Fixture.localID)
        _ = table.add(Fixture.record(1), status: .verified, now: ms(0))
        let bootstrap = [Endpoint.tcp(.v4(0x0A00_0001), 4000), .tcp(.v4(0x0A00_0002), 4000)]
        var rng = SplitMix64(seed: 3)
        let throughEntry = Seeding.plan(table: table, bootstrap: bootstrap, ownLookupEndpoint: nil, rng: &rng)
        #expect(throughEntry.map(\.responderID) == [Fixture.peerID(1)])
        let throughBootstrap = Seeding.plan(
            table: table, bootstrap: bootstrap, ownLookupEndpoint: nil, throughBootstrap: true, rng: &rng)
        #expect(Set(throughBootstrap.map(\.endpoint)) == Set(bootstrap) && throughBootstrap.allSatisfy { $0.responderID == nil })
        // A seed whose only bootstrap endpoint is its own goes through its table.
        let own = Seeding.plan(
            table: table, bootstrap: [bootstrap[0]], ownLookupEndpoint: bootstrap[0], throughBootstrap: true, rng: &rng)
        #expect(own.map(\.responderID) == [Fixture.peerID(1)])
    }

    /// A connected dial resets the backoff and pulls a far planned pass forward to the base wait.
    @Test func aConnectedDialPullsAPlannedPassForward() {
        var seeding = Seeding(configuration: NodeConfiguration.Discovery())
        var rng = SplitMix64(seed: 5)
        var delays: [Duration] = []
        for step in 0..<6 {
            _ = seeding.beginPass()
            _ = seeding.passPlanned(sessions: 0)
            delays.append(seeding.starved(now: ms(UInt64(step) * 100_000), rng: &rng) ?? .zero)
        }
        #expect(delays.last! >= .seconds(8))  // Doubling from 500 ms (with jitter).
        seeding.progressed(now: ms(500_000), rng: &rng)
        #expect(seeding.deadline.map { $0 <= ms(500_500) } == true)
    }

    /// Hops: 1 when only the random-target lookups answered, 2 once a self-lookup did too.
    @Test func sessionHopsCountTheRoundsThatAnswered() {
        var rng = SplitMix64(seed: 9)
        var session = LookupSession(endpoint: .tcp(.v4(0x0A00_0001), 4000), responderID: nil)
        guard case .start(let requests) = session.begin(randomLookups: 2, rng: &rng) else {
            Issue.record("no random lookups")
            return
        }
        #expect(requests.count == 2 && session.hops == 0)
        _ = session.exchangeSucceeded(.random, from: nil, peers: [Fixture.record(1)], localID: Fixture.localID)
        #expect(session.hops == 1)
        let step = session.exchangeFailed(.random, .timedOut(awaiting: .peers), localID: Fixture.localID)
        guard case .start(let selfLookups) = step else {
            Issue.record("no self-lookups: \(step)")
            return
        }
        #expect(selfLookups.count == 1)
        #expect(session.exchangeSucceeded(.selfLookup, from: Fixture.peerID(1), peers: [], localID: Fixture.localID) == .succeeded(learned: 1))
        #expect(session.hops == 2)
    }

    /// A busy responder's Shutdown(noFreeSlot) in answer to Ping is retried after a backoff, like a
    /// failed connect, while attempts remain; then it fails the exchange.
    @Test func aBusyResponderIsAskedAgain() {
        let settings = LookupRequester.Settings(NodeConfiguration())
        let remote = Endpoint.tcp(.v4(0x0A00_0001), 4000)
        var requester = LookupRequester(
            settings: settings, localID: Fixture.localID, target: Fixture.peerID(3), remote: remote, responderID: nil,
            nonce: Nonce(1, 2, 3, 4))
        var rng = SplitMix64(seed: 1)
        var now = ms(0)
        for attempt in 1...3 {
            #expect(requester.attempt == attempt - 1 || attempt == 1)
            let connect = attempt == 1 ? requester.start(now: now) : requester.timeout(now: now, rng: &rng)
            #expect(connect == .connect(remote, timeout: settings.connectTimeout))
            #expect(requester.connected(now: now) == .send(.ping(nonce: Nonce(1, 2, 3, 4), version: settings.version)))
            let refused = requester.received(.shutdown(.noFreeSlot), now: now + .milliseconds(20))
            if attempt < 3 {
                #expect(refused == .wait && requester.state == .waitingToReconnect(nextAttempt: attempt + 1))
                let deadline = requester.deadline!
                #expect(deadline > now + .milliseconds(20) && deadline <= now + .milliseconds(20) + .seconds(2))
                now = deadline
            } else {
                #expect(refused == .fail(.remoteShutdown(.noFreeSlot), closeWith: nil))
            }
        }
        // Any other Shutdown ends the exchange at once.
        var other = LookupRequester(
            settings: settings, localID: Fixture.localID, target: Fixture.peerID(3), remote: remote, responderID: nil,
            nonce: Nonce(5, 6, 7, 8))
        _ = other.start(now: ms(0))
        _ = other.connected(now: ms(0))
        #expect(other.received(.shutdown(.incompatibleVersion), now: ms(10)) == .fail(.remoteShutdown(.incompatibleVersion), closeWith: nil))
    }
}
