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
/// endpoint): `randomLookups` random-target exchanges through it, run concurrently, then a
/// self-lookup (target = our own ID) through every distinct peer they returned, concurrently as
/// lookup slots allow. Self-lookups ask the peers nearest to us for their neighbours, which fills
/// the near buckets a random target rarely reaches.
///
/// The session fails only when every random-target exchange failed (the original gave up when
/// either did, throwing away what the other had learned); failed self-lookups only cost what they
/// would have taught us. The owner offers every successful exchange's peers to the routing table
/// as they arrive and reports them here, which counts the distinct ones (`learned`).
struct LookupSession {
    /// Where the session stands.
    enum Phase: Hashable {
        /// Created, not begun.
        case idle
        /// The random-target exchanges are running.
        case randomLookups
        /// The self-lookups are running.
        case selfLookups
        /// Succeeded or failed.
        case finished
    }

    /// The endpoint seeded through.
    let endpoint: Endpoint
    /// Its ID, when it is a routing-table entry.
    let responderID: PeerID?
    private(set) var phase = Phase.idle
    private var outstanding = 0
    private var randomSucceeded = 0
    private var lastFailure: LookupFailure?
    private var selfLookupPeers: [PeerRecord] = []
    private var learnedIDs: Set<PeerID> = []
    /// Rounds of lookups that got an answer: 1 once a random-target exchange succeeded, 2 once a
    /// self-lookup through a peer it returned succeeded too.
    private(set) var hops = 0

    init(endpoint: Endpoint, responderID: PeerID?) {
        self.endpoint = endpoint
        self.responderID = responderID
    }

    /// Distinct peers offered so far.
    var learned: Int { learnedIDs.count }

    /// Starts the session: `randomLookups` (at least one) random-target exchanges.
    mutating func begin(randomLookups: Int, rng: inout SplitMix64) -> SessionStep {
        guard phase == .idle else { return .wait }
        phase = .randomLookups
        let count = max(1, randomLookups)
        outstanding = count
        return .start((0..<count).map { _ in
            ExchangeRequest(
                kind: .random, target: PeerID.random(using: &rng), remote: endpoint, responderID: responderID)
        })
    }

    /// An exchange of this session returned `peers` (already filtered).
    mutating func exchangeSucceeded(_ kind: ExchangeRequest.Kind, peers: [PeerRecord], localID: PeerID) -> SessionStep {
        guard phase != .finished, phase != .idle else { return .wait }
        for peer in peers { learnedIDs.insert(peer.id) }
        switch kind {
        case .random: hops = max(hops, 1)
        case .selfLookup: hops = max(hops, 2)
        }
        if kind == .random {
            randomSucceeded += 1
            for peer in peers where !selfLookupPeers.contains(where: { $0.id == peer.id }) {
                selfLookupPeers.append(peer)
            }
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
            let requests = selfLookupPeers.compactMap { peer -> ExchangeRequest? in
                let remote = Endpoint.tcp(peer.address, peer.discoveryPort)
                guard remote != endpoint else { return nil }
                return ExchangeRequest(kind: .selfLookup, target: localID, remote: remote, responderID: peer.id)
            }
            selfLookupPeers = []
            guard !requests.isEmpty else {
                phase = .finished
                return .succeeded(learned: learned)
            }
            phase = .selfLookups
            outstanding = requests.count
            return .start(requests)
        case .selfLookups:
            phase = .finished
            return .succeeded(learned: learned)
        case .idle, .finished:
            preconditionFailure("BUG in Karyons: a lookup session in phase \(phase) had outstanding exchanges")
        }
    }
}
