import Testing
@testable import KaryonsCore

/// `LookupSession` traces: random-target lookups through one endpoint, then self-lookups (the
/// walk's later rounds are traced in `LookupSessionWalkTests`).
@Suite struct LookupSessionTests {
    var rng = SplitMix64(seed: 3)

    mutating func begun() -> (LookupSession, [ExchangeRequest]) {
        var session = LookupSession(endpoint: Fixture.seed, responderID: nil)
        guard case .start(let requests) = session.begin(randomLookups: 2, rng: &rng) else {
            preconditionFailure("a session starts with its random lookups")
        }
        return (session, requests)
    }

    @Test mutating func randomLookupsThenSelfLookupsThroughDistinctPeers() {
        var (session, requests) = begun()
        #expect(requests.count == 2 && requests.allSatisfy { $0.kind == .random && $0.remote == Fixture.seed })
        #expect(requests[0].target != requests[1].target)
        let first = [Fixture.record(1), Fixture.record(2)]
        let second = [Fixture.record(2), Fixture.record(3), PeerRecord(
            id: Fixture.peerID(4), address: Fixture.seed.address, port: 1, discoveryPort: Fixture.seed.port)]
        #expect(session.exchangeSucceeded(.random, from: nil, peers: first, localID: Fixture.localID) == .wait)
        let step = session.exchangeSucceeded(.random, from: nil, peers: second, localID: Fixture.localID)
        // One self-lookup per distinct peer, except one reachable at the seed's own endpoint.
        let expected = [1, 2, 3].map {
            ExchangeRequest(
                kind: .selfLookup, target: Fixture.localID, remote: Fixture.lookupEndpoint(Fixture.record($0)),
                responderID: Fixture.peerID($0))
        }
        #expect(step == .start(expected))
        #expect(session.phase == .selfLookups)
        #expect(session.exchangeSucceeded(.selfLookup, from: Fixture.peerID(1), peers: [Fixture.record(5)], localID: Fixture.localID) == .wait)
        #expect(session.exchangeFailed(.selfLookup, .timedOut(awaiting: .pong), localID: Fixture.localID) == .wait)
        // Nothing came back closer than peer 1: the last round asks peer 5, the one near peer not
        // yet asked (see `LookupSessionWalkTests`), and the session ends when it answers.
        let last = session.exchangeSucceeded(
            .selfLookup, from: Fixture.peerID(3), peers: [Fixture.record(1)], localID: Fixture.localID)
        #expect(last == .start([ExchangeRequest(
            kind: .selfLookup, target: Fixture.localID, remote: Fixture.lookupEndpoint(Fixture.record(5)),
            responderID: Fixture.peerID(5))]))
        #expect(session.exchangeSucceeded(.selfLookup, from: Fixture.peerID(5), peers: [], localID: Fixture.localID)
                == .succeeded(learned: 5))
        #expect(session.phase == .finished)
        #expect(session.exchangeFailed(.selfLookup, .shuttingDown, localID: Fixture.localID) == .wait)
    }

    @Test mutating func oneFailedRandomLookupDoesNotSinkTheSession() {
        var (session, _) = begun()
        #expect(session.exchangeFailed(.random, .nonceMismatch, localID: Fixture.localID) == .wait)
        let step = session.exchangeSucceeded(.random, from: nil, peers: [Fixture.record(1)], localID: Fixture.localID)
        guard case .start(let requests) = step else {
            Issue.record("expected self-lookups, got \(step)")
            return
        }
        #expect(requests.map(\.responderID) == [Fixture.peerID(1)])
    }

    @Test mutating func failsWhenEveryRandomLookupFailed() {
        var (session, _) = begun()
        _ = session.exchangeFailed(.random, .connectFailed(.refused), localID: Fixture.localID)
        #expect(session.exchangeFailed(.random, .timedOut(awaiting: .peers), localID: Fixture.localID)
                == .failed(.timedOut(awaiting: .peers)))
    }

    @Test mutating func emptyRepliesEndTheSessionWithoutSelfLookups() {
        var (session, _) = begun()
        _ = session.exchangeSucceeded(.random, from: nil, peers: [], localID: Fixture.localID)
        #expect(session.exchangeSucceeded(.random, from: nil, peers: [], localID: Fixture.localID) == .succeeded(learned: 0))
    }
}

/// `Seeding` traces: the backoff that never gives up, and what a pass goes through.
@Suite struct SeedingTests {
    var rng = SplitMix64(seed: 4)

    /// Scenario 44: starved again and again, the node waits 0.5 s, 1 s, 2 s … up to 60 s, forever.
    @Test mutating func backoffDoublesToTheSeedingIntervalAndNeverStops() {
        var seeding = Seeding(configuration: NodeConfiguration.Discovery())
        let began = seeding.beginPass()
        #expect(began && seeding.isSeeding)
        let over = seeding.passPlanned(sessions: 0)
        #expect(over)  // Nothing to seed through: the pass is over.
        var now = sec(0)
        var delays: [Duration] = []
        for _ in 0..<10 {
            guard let delay = seeding.starved(now: now, rng: &rng) else { break }
            delays.append(delay)
            let again = seeding.starved(now: now, rng: &rng)
            #expect(again == nil)  // Already planned.
            let early = seeding.timeout(now: now + delay - .nanoseconds(1))
            now = now + delay
            let due = seeding.timeout(now: now)
            #expect(!early && due)
            let overAtOnce = seeding.passPlanned(sessions: 1)
            let whileSeeding = seeding.starved(now: now, rng: &rng)
            #expect(!overAtOnce && whileSeeding == nil)  // A pass is running.
            let ended = seeding.sessionEnded()
            #expect(ended)
        }
        #expect(delays == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16),
                           .seconds(32), .seconds(60), .seconds(60), .seconds(60)])
    }

    @Test mutating func somethingDialableDropsThePlanAndResetsTheBackoff() {
        var seeding = Seeding(configuration: NodeConfiguration.Discovery())
        _ = seeding.starved(now: sec(0), rng: &rng)
        _ = seeding.timeout(now: sec(1))
        _ = seeding.passPlanned(sessions: 0)
        #expect(seeding.starved(now: sec(1), rng: &rng) == .seconds(1))
        seeding.satisfied()
        #expect(seeding.state == .idle && seeding.deadline == nil)
        #expect(seeding.starved(now: sec(2), rng: &rng) == .milliseconds(500))
    }

    @Test mutating func aPassWaitsForAllItsSessions() {
        var seeding = Seeding(configuration: NodeConfiguration.Discovery())
        _ = seeding.beginPass()
        let second = seeding.beginPass()
        #expect(!second)  // One pass at a time.
        let endings = [seeding.passPlanned(sessions: 3), seeding.sessionEnded(), seeding.sessionEnded()]
        #expect(endings == [false, false, false])
        let last = seeding.sessionEnded()
        #expect(last && seeding.state == .idle)
        let extra = seeding.sessionEnded()
        #expect(!extra)
    }

    @Test mutating func passesGoThroughAShareableEntryElseEveryBootstrapInRandomOrder() {
        var table = RoutingTable(localID: Fixture.localID)
        let own = Endpoint.tcp(.v4(0xCB00_7105), 3010)
        let seeds = (1...5).map { Endpoint.tcp(Fixture.publicAddress($0), 4010) }
        let bootstrap = seeds + [own, .udp(Fixture.publicAddress(1), 4010)]  // Ourselves and a repeat.
        var orders: Set<[Endpoint]> = []
        for _ in 0..<20 {
            let plan = Seeding.plan(table: table, bootstrap: bootstrap, ownLookupEndpoint: own, rng: &rng)
            #expect(plan.allSatisfy { $0.responderID == nil })
            #expect(Set(plan.map(\.endpoint)) == Set(bootstrap.prefix(5)) && plan.count == 5)
            orders.insert(plan.map(\.endpoint))
        }
        #expect(orders.count > 1)

        _ = table.add(Fixture.record(1), status: .unverified, now: ms(0))
        #expect(Seeding.plan(table: table, bootstrap: bootstrap, ownLookupEndpoint: own, rng: &rng).count == 5)
        _ = table.add(Fixture.record(2), status: .verified, now: ms(0))
        _ = table.add(Fixture.record(3), status: .connected, now: ms(0))
        var through: Set<PeerID> = []
        for _ in 0..<40 {
            let plan = Seeding.plan(table: table, bootstrap: bootstrap, ownLookupEndpoint: own, rng: &rng)
            #expect(plan.count == 1)
            if let first = plan.first, let id = first.responderID {
                #expect(first.endpoint == Fixture.lookupEndpoint(Fixture.record(id == Fixture.peerID(2) ? 2 : 3)))
                through.insert(id)
            }
        }
        #expect(through == [Fixture.peerID(2), Fixture.peerID(3)])
    }
}
