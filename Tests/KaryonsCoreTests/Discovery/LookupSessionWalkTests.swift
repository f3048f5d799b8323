import Testing
@testable import KaryonsCore

/// `LookupSession` traces of the iterative self-lookup: after the first round (every peer the
/// random lookups returned), each round asks the nearest not-yet-asked peers closer to us than the
/// closest that answered, until a round brings none closer (then one last round asks the near
/// peers passed by) or a limit is reached.
@Suite struct LookupSessionWalkTests {
    var rng = SplitMix64(seed: 11)
    let local = Fixture.localID

    /// A peer sharing exactly the first `sharedBits` bits with `Fixture.localID` (more is closer),
    /// at its own public address.
    static func near(_ sharedBits: Int) -> PeerRecord {
        let id = PeerID(Fixture.localID.word(0) ^ (1 << UInt64(63 - sharedBits)), 0, 0, UInt64(sharedBits))
        return PeerRecord(id: id, address: Fixture.publicAddress(100 + sharedBits), port: 3000, discoveryPort: 3010)
    }

    static func asking(_ peers: [PeerRecord]) -> SessionStep {
        .start(peers.map {
            ExchangeRequest(kind: .selfLookup, target: Fixture.localID, remote: Fixture.lookupEndpoint($0), responderID: $0.id)
        })
    }

    /// A session past its random lookups, which returned `peers`; returns the first round's step.
    mutating func firstRound(
        returning peers: [PeerRecord], configure: (inout NodeConfiguration.Discovery) -> Void = { _ in }
    ) -> (LookupSession, SessionStep) {
        var discovery = NodeConfiguration.Discovery()
        configure(&discovery)
        var session = LookupSession(endpoint: Fixture.seed, responderID: nil, limits: LookupSession.Limits(discovery))
        _ = session.begin(randomLookups: 2, rng: &rng)
        _ = session.exchangeFailed(.random, .timedOut(awaiting: .pong), localID: local)
        let step = session.exchangeSucceeded(.random, from: nil, peers: peers, localID: local)
        return (session, step)
    }

    @Test mutating func walksCloserAndStopsWhenNoCloserPeerComesBack() {
        let (far1, far2) = (Fixture.record(1), Fixture.record(2))
        var (session, step) = firstRound(returning: [far1, far2])
        #expect(step == Self.asking([far1, far2]))
        #expect(session.hops == 1)

        // Round 1: far1 knows five nearer peers; far2 does not answer.
        let known = [5, 6, 7, 8, 12].map(Self.near)
        #expect(session.exchangeSucceeded(.selfLookup, from: far1.id, peers: known, localID: local) == .wait)
        step = session.exchangeFailed(.selfLookup, .connectFailed(.refused), localID: local)
        // Round 2: the three nearest (alpha), nearest first.
        #expect(step == Self.asking([12, 8, 7].map(Self.near)))
        #expect(session.hops == 2 && session.selfLookupRounds == 2)

        // near(12) knows near(20) (closer than anything that answered) and near(3) (farther).
        _ = session.exchangeSucceeded(.selfLookup, from: Self.near(12).id, peers: [Self.near(20), Self.near(3)], localID: local)
        _ = session.exchangeSucceeded(.selfLookup, from: Self.near(8).id, peers: [Self.near(6)], localID: local)
        step = session.exchangeFailed(.selfLookup, .timedOut(awaiting: .peers), localID: local)
        // Round 3: only near(20) is closer than near(12), the closest that answered.
        #expect(step == Self.asking([Self.near(20)]))

        // near(20) brings back only peers already asked or farther than itself: one last round
        // asks every peer not yet asked among the 20 nearest known, nearest first (near(7) failed).
        step = session.exchangeSucceeded(
            .selfLookup, from: Self.near(20).id, peers: [Self.near(12), Self.near(16)], localID: local)
        #expect(step == Self.asking([16, 6, 5, 3].map(Self.near)))
        _ = session.exchangeSucceeded(.selfLookup, from: Self.near(16).id, peers: [Self.near(40)], localID: local)
        for _ in 0..<2 { _ = session.exchangeFailed(.selfLookup, .timedOut(awaiting: .peers), localID: local) }
        // Then the walk ends, even though near(40) came back closer.
        step = session.exchangeFailed(.selfLookup, .timedOut(awaiting: .peers), localID: local)
        #expect(step == .succeeded(learned: 2 + 5 + 2 + 1 + 1))
        #expect(session.phase == .finished)
        #expect(session.hops == 5)  // The random lookups and four answered rounds.
        #expect(session.exchangesStarted == 2 + 2 + 3 + 1 + 4)
    }

    /// The last round asks only the peers not yet asked among the `selfLookupFinalPeersMax`
    /// nearest that answered or were never asked.
    @Test mutating func theLastRoundStaysAmongTheNearest() {
        let far = Fixture.record(1)
        var (session, _) = firstRound(returning: [far]) { $0.selfLookupFinalPeersMax = 3 }
        var step = session.exchangeSucceeded(.selfLookup, from: far.id, peers: [Self.near(9)], localID: local)
        #expect(step == Self.asking([Self.near(9)]))
        // near(9) knows only farther peers: the three nearest are near(9) (answered), near(8) and
        // near(7); near(3) and far are beyond them.
        let farther = [3, 7, 8].map(Self.near)
        step = session.exchangeSucceeded(.selfLookup, from: Self.near(9).id, peers: farther, localID: local)
        #expect(step == Self.asking([8, 7].map(Self.near)))
        _ = session.exchangeFailed(.selfLookup, .connectFailed(.refused), localID: local)
        step = session.exchangeSucceeded(.selfLookup, from: Self.near(7).id, peers: [Self.near(4)], localID: local)
        #expect(step == .succeeded(learned: 6))
        #expect(session.hops == 4)
    }

    /// A round in which every exchange fails adds no hop; the walk goes on with the next-nearest
    /// peers still closer than the closest that answered.
    @Test mutating func aRoundThatFailsCountsNoHopAndTheNextNearestAreAsked() {
        let far = Fixture.record(1)
        var (session, _) = firstRound(returning: [far])
        let known = [4, 5, 6, 7, 8].map(Self.near)
        var step = session.exchangeSucceeded(.selfLookup, from: far.id, peers: known, localID: local)
        #expect(step == Self.asking([8, 7, 6].map(Self.near)))
        for _ in 0..<2 { _ = session.exchangeFailed(.selfLookup, .connectFailed(.refused), localID: local) }
        step = session.exchangeFailed(.selfLookup, .connectionLost(.reset), localID: local)
        #expect(step == Self.asking([5, 4].map(Self.near)))
        #expect(session.hops == 2)
        _ = session.exchangeFailed(.selfLookup, .connectionLost(.reset), localID: local)
        step = session.exchangeSucceeded(.selfLookup, from: Self.near(4).id, peers: [], localID: local)
        #expect(step == .succeeded(learned: 6))
        #expect(session.hops == 3)
    }

    /// Every round brings a closer peer, but the walk stops after `selfLookupRoundsMax` rounds.
    @Test mutating func stopsAtTheRoundLimit() {
        let far = Fixture.record(1)
        var (session, step) = firstRound(returning: [far]) { $0.selfLookupRoundsMax = 3 }
        var responder = far
        for round in 1...3 {
            #expect(step == Self.asking([responder]))
            let closer = Self.near(10 * round)
            step = session.exchangeSucceeded(.selfLookup, from: responder.id, peers: [closer], localID: local)
            responder = closer
        }
        #expect(step == .succeeded(learned: 4))
        #expect(session.selfLookupRounds == 3 && session.hops == 4)
    }

    /// The session starts at most `sessionExchangesMax` exchanges: the first round keeps the nearest
    /// peers that fit, and the walk ends when the budget is spent.
    @Test mutating func stopsAtTheExchangeLimit() {
        let returned = [Fixture.record(3), Self.near(2), Fixture.record(1), Self.near(9)]
        var (session, step) = firstRound(returning: returned) { $0.sessionExchangesMax = 5 }
        #expect(step == Self.asking([Self.near(9), Self.near(2), Fixture.record(1)]))
        _ = session.exchangeSucceeded(.selfLookup, from: Fixture.record(1).id, peers: [], localID: local)
        _ = session.exchangeSucceeded(.selfLookup, from: Self.near(2).id, peers: [], localID: local)
        step = session.exchangeSucceeded(.selfLookup, from: Self.near(9).id, peers: [Self.near(30)], localID: local)
        #expect(step == .succeeded(learned: 5))  // near(30) is closer, but the budget is spent.
        #expect(session.exchangesStarted == 5)
    }

    /// The limits never let a session start nothing or ask nobody at a time.
    @Test func limitsAreClampedToWorkableValues() {
        var discovery = NodeConfiguration.Discovery()
        discovery.selfLookupParallelism = 0
        discovery.selfLookupRoundsMax = -1
        discovery.sessionExchangesMax = 0
        discovery.selfLookupFinalPeersMax = -3
        let limits = LookupSession.Limits(discovery)
        #expect(limits.selfLookupParallelism == 1 && limits.selfLookupRoundsMax == 0 && limits.exchangesMax == 1)
        #expect(limits.selfLookupFinalPeersMax == 0)
        let defaults = LookupSession.Limits(NodeConfiguration.Discovery())
        // The defaults leave room for both random lookups, a full first round and the later rounds.
        let firstRoundMax = 2 * WireLimits.peersCountMax
        #expect(defaults.exchangesMax >= 2 + firstRoundMax + 2 * defaults.selfLookupParallelism)
        #expect(defaults.selfLookupRoundsMax >= 3)
    }

    /// With no self-lookup rounds allowed, the session ends after its random lookups.
    @Test mutating func zeroRoundsEndsAfterTheRandomLookups() {
        let (session, step) = firstRound(returning: [Fixture.record(1)]) { $0.selfLookupRoundsMax = 0 }
        #expect(step == .succeeded(learned: 1))
        #expect(session.hops == 1 && session.exchangesStarted == 2)
    }
}
