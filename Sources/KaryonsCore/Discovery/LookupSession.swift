/// One exchange a `LookupSession` wants run.
struct ExchangeRequest: Hashable {
    /// Which phase of the session the exchange belongs to.
    enum Kind: Hashable {
        /// A random-target lookup through the session's endpoint.
        case random
        /// A self-lookup (target = our ID) through a peer the random lookups returned.
        case selfLookup
    }

    var kind: Kind
    var target: PeerID
    /// The responder's lookup endpoint.
    var remote: Endpoint
    /// The responder's ID, when known (a self-lookup's peer, or a table entry we seed through).
    var responderID: PeerID?
}

/// What the owner of a `LookupSession` must do next.
enum SessionStep: Hashable {
    /// Wait for the outstanding exchanges.
    case wait
    /// Run these exchanges (each in its own lookup connection, as slots allow).
    case start([ExchangeRequest])
    /// The session is over; `learned` distinct peers were offered to the routing table.
    case succeeded(learned: Int)
    /// No random-target exchange succeeded; the last failure is given.
    case failed(LookupFailure)
}

/// A seeding pass through one endpoint (a bootstrap endpoint, or a routing-table entry's lookup
/// endpoint): `randomLookups` random-target exchanges through it, run concurrently, then an
/// iterative self-lookup (target = our own ID) in rounds. The first round asks every distinct peer
/// the random lookups returned; each later round asks the `selfLookupParallelism` nearest peers,
/// not yet asked, that came back closer to us than the closest peer that has answered so far. When a
/// round brings no such peer, one last round asks every peer not yet asked among the
/// `selfLookupFinalPeersMax` nearest the session knows (Kademlia's k closest), and the walk ends; it
/// also ends after `selfLookupRoundsMax` rounds, or once the session has started `exchangesMax`
/// exchanges. Walking closer is what reaches the few nodes that share our ID's first byte (the
/// near buckets): a random peer rarely knows them, but the first of them we reach knows its
/// neighbours, which are ours; the last round asks the near peers the walk passed by, since each
/// knows a different part of our neighbourhood (and learns of us, as every responder does).
///
/// The session fails only when every random-target exchange failed (the original gave up when
/// either did, throwing away what the other had learned); failed self-lookups only cost what they
/// would have taught us. The owner offers every successful exchange's peers to the routing table
/// as they arrive and reports them here, which counts the distinct ones (`learned`).
struct LookupSession {
    /// How far a session may go (from `NodeConfiguration.Discovery`).
    struct Limits: Hashable {
        /// Peers asked at once in each self-lookup round after the first (Kademlia's alpha).
        var selfLookupParallelism: Int
        /// Self-lookup rounds at most.
        var selfLookupRoundsMax: Int
        /// The last round asks the peers not yet asked among this many nearest (Kademlia's k).
        var selfLookupFinalPeersMax: Int
        /// Exchanges (random-target and self-lookups together) a session starts at most.
        var exchangesMax: Int

        init(_ discovery: NodeConfiguration.Discovery) {
            selfLookupParallelism = max(1, discovery.selfLookupParallelism)
            selfLookupRoundsMax = max(0, discovery.selfLookupRoundsMax)
            selfLookupFinalPeersMax = max(0, discovery.selfLookupFinalPeersMax)
            exchangesMax = max(1, discovery.sessionExchangesMax)
        }
    }

    /// Where the session stands.
    enum Phase: Hashable {
        /// Created, not begun.
        case idle
        /// The random-target exchanges are running.
        case randomLookups
        /// A self-lookup round is running.
        case selfLookups
        /// Succeeded or failed.
        case finished
    }

    /// The endpoint seeded through.
    let endpoint: Endpoint
    /// Its ID, when it is a routing-table entry.
    let responderID: PeerID?
    let limits: Limits
    private(set) var phase = Phase.idle
    private var outstanding = 0
    private var randomSucceeded = 0
    private var lastFailure: LookupFailure?
    /// Peers returned and not yet asked (distinct by ID), the next rounds' choice.
    private var candidates: [PeerRecord] = []
    private var askedIDs: Set<PeerID> = []
    /// The distances to us of the peers whose self-lookups answered, and the closest of them.
    private var answeredDistances: [Distance] = []
    private var closestAnswered: Distance?
    private var finalRoundStarted = false
    private var learnedIDs: Set<PeerID> = []
    /// Exchanges started so far.
    private(set) var exchangesStarted = 0
    /// Self-lookup rounds started so far.
    private(set) var selfLookupRounds = 0
    private var roundAnswered = false
    /// Rounds of lookups that got an answer: 1 once a random-target exchange succeeded, plus one
    /// for each self-lookup round in which at least one exchange succeeded.
    private(set) var hops = 0

    init(endpoint: Endpoint, responderID: PeerID?, limits: Limits = Limits(NodeConfiguration.Discovery())) {
        self.endpoint = endpoint
        self.responderID = responderID
        self.limits = limits
        if let responderID { askedIDs.insert(responderID) }
    }

    /// Distinct peers offered so far.
    var learned: Int { learnedIDs.count }

    /// Starts the session: `randomLookups` (at least one, at most `exchangesMax`) random-target exchanges.
    mutating func begin(randomLookups: Int, rng: inout SplitMix64) -> SessionStep {
        guard phase == .idle else { return .wait }
        phase = .randomLookups
        let count = min(max(1, randomLookups), limits.exchangesMax)
        outstanding = count
        exchangesStarted = count
        return .start((0..<count).map { _ in
            ExchangeRequest(
                kind: .random, target: PeerID.random(using: &rng), remote: endpoint, responderID: responderID)
        })
    }

    /// An exchange of this session, asked of `responder` (when known), returned `peers` (already filtered).
    mutating func exchangeSucceeded(
        _ kind: ExchangeRequest.Kind, from responder: PeerID?, peers: [PeerRecord], localID: PeerID
    ) -> SessionStep {
        guard phase != .finished, phase != .idle else { return .wait }
        for peer in peers { learnedIDs.insert(peer.id) }
        if !roundAnswered {
            roundAnswered = true
            hops += 1
        }
        switch kind {
        case .random:
            randomSucceeded += 1
        case .selfLookup:
            if let responder {
                let distance = responder.distance(to: localID)
                answeredDistances.append(distance)
                if closestAnswered.map({ distance < $0 }) ?? true { closestAnswered = distance }
            }
        }
        for peer in peers where !askedIDs.contains(peer.id) && !candidates.contains(where: { $0.id == peer.id }) {
            guard Endpoint.tcp(peer.address, peer.discoveryPort) != endpoint else { continue }
            candidates.append(peer)
        }
        return exchangeEnded(localID: localID)
    }

    /// An exchange of this session failed.
    mutating func exchangeFailed(
        _ kind: ExchangeRequest.Kind, _ failure: LookupFailure, localID: PeerID
    ) -> SessionStep {
        guard phase != .finished, phase != .idle else { return .wait }
        if kind == .random { lastFailure = failure }
        return exchangeEnded(localID: localID)
    }

    private mutating func exchangeEnded(localID: PeerID) -> SessionStep {
        outstanding -= 1
        precondition(outstanding >= 0, "BUG in Karyons: a lookup session heard of more exchanges than it started")
        guard outstanding == 0 else { return .wait }
        switch phase {
        case .randomLookups:
            guard randomSucceeded > 0 else {
                phase = .finished
                return .failed(lastFailure ?? .timedOut(awaiting: .peers))
            }
            return startSelfLookupRound(asking: firstRoundPeers(localID: localID), localID: localID)
        case .selfLookups:
            return startSelfLookupRound(asking: nextRoundPeers(localID: localID), localID: localID)
        case .idle, .finished:
            preconditionFailure("BUG in Karyons: a lookup session in phase \(phase) had outstanding exchanges")
        }
    }

    /// Every peer the random lookups returned, as many as the exchange budget allows (the nearest
    /// to us first when it does not allow all).
    private func firstRoundPeers(localID: PeerID) -> [PeerRecord] {
        let budget = limits.exchangesMax - exchangesStarted
        guard candidates.count > budget else { return candidates }
        return Array(nearestFirst(candidates, to: localID).prefix(max(0, budget)))
    }

    /// The `selfLookupParallelism` nearest peers not yet asked that are closer to us than the
    /// closest peer that answered; when there are none, the last round's peers (once); none once
    /// nothing has answered (no peer to be closer than).
    private mutating func nextRoundPeers(localID: PeerID) -> [PeerRecord] {
        guard let closestAnswered, !finalRoundStarted else { return [] }
        let budget = max(0, limits.exchangesMax - exchangesStarted)
        let nearest = nearestFirst(candidates, to: localID)
        let closer = nearest.prefix { $0.id.distance(to: localID) < closestAnswered }
        guard closer.isEmpty else { return Array(closer.prefix(min(limits.selfLookupParallelism, budget))) }
        finalRoundStarted = true
        return Array(finalRoundPeers(nearestFirst: nearest, localID: localID).prefix(budget))
    }

    /// The candidates among the `selfLookupFinalPeersMax` nearest peers that answered or are not
    /// yet asked (a peer that failed counts for nothing).
    private func finalRoundPeers(nearestFirst nearest: [PeerRecord], localID: PeerID) -> [PeerRecord] {
        var answered = answeredDistances.sorted()[...]
        var chosen: [PeerRecord] = []
        var taken = 0
        for candidate in nearest where taken < limits.selfLookupFinalPeersMax {
            let distance = candidate.id.distance(to: localID)
            while let first = answered.first, first < distance, taken < limits.selfLookupFinalPeersMax {
                answered.removeFirst()
                taken += 1
            }
            guard taken < limits.selfLookupFinalPeersMax else { break }
            chosen.append(candidate)
            taken += 1
        }
        return chosen
    }

    private func nearestFirst(_ peers: [PeerRecord], to localID: PeerID) -> [PeerRecord] {
        peers.sorted { $0.id.distance(to: localID) < $1.id.distance(to: localID) }
    }

    private mutating func startSelfLookupRound(asking peers: [PeerRecord], localID: PeerID) -> SessionStep {
        guard !peers.isEmpty, selfLookupRounds < limits.selfLookupRoundsMax else {
            phase = .finished
            candidates = []
            return .succeeded(learned: learned)
        }
        let asked = Set(peers.map(\.id))
        askedIDs.formUnion(asked)
        candidates.removeAll { asked.contains($0.id) }
        phase = .selfLookups
        selfLookupRounds += 1
        roundAnswered = false
        outstanding = peers.count
        exchangesStarted += peers.count
        return .start(peers.map { peer in
            ExchangeRequest(
                kind: .selfLookup, target: localID, remote: .tcp(peer.address, peer.discoveryPort),
                responderID: peer.id)
        })
    }
}
