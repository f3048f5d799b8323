/// What the owner of a `LookupResponder` must do next.
enum ResponderAction: Hashable {
    /// Nothing to send; keep the connection open.
    case wait
    /// Send this answer.
    case reply(LookupMessage)
    /// Offer this record (already carrying the connection's observed address) to the routing
    /// table as unverified.
    case learn(PeerRecord)
    /// Close the connection, sending Shutdown(`sending`) when given; `isViolation` tells whether
    /// the remote broke the protocol (counted in `NodeStatistics.protocolViolations`).
    case close(sending: DisconnectReason?, isViolation: Bool)
}

/// One inbound lookup connection (the responder side of the lookup plane).
///
/// The requester must follow the exchange in order: Ping (its version must meet our requirement,
/// else Shutdown(incompatibleVersion)) → Pong; FindPeer → Peers; then optionally Peer (its own
/// record, which we store unverified under the connection's *observed* address, ports as given);
/// then Shutdown. A Shutdown at any point ends it quietly. Anything else — Pong or Peers (never
/// solicited by a responder, so never stored), a second Ping, FindPeer before Ping, Peer before
/// FindPeer — closes the connection with Shutdown(malformedMessage). The whole connection lives
/// at most `lifespan` from acceptance; then it is closed with Shutdown(timeout).
///
/// Peers replies hold the `peersPerReplyMax` entries nearest the target among those fit to share
/// (verified or connected), never the target itself: the requester of a self-lookup learns nothing
/// from its own record.
struct LookupResponder {
    /// Where the exchange stands.
    enum State: Hashable {
        /// Accepted; the requester must open with Ping.
        case awaitingPing
        /// Pong sent; FindPeer is next.
        case awaitingFindPeer
        /// Peers sent; the requester may introduce itself before it shuts down.
        case awaitingPeer
        /// The requester introduced itself; only Shutdown may follow.
        case awaitingShutdown
    }

    /// The remote end of the connection, as our listener observed it.
    let remote: Endpoint
    /// When the connection is closed regardless of progress.
    let deadline: Instant
    private let localID: PeerID
    private let networkVersion: ProtocolVersion
    private let peersPerReplyMax: Int
    private(set) var state = State.awaitingPing

    init(remote: Endpoint, accepted now: Instant, configuration: NodeConfiguration, localID: PeerID) {
        self.remote = remote
        self.deadline = now + configuration.discovery.lookupConnectionLifespan
        self.localID = localID
        self.networkVersion = configuration.networkVersion
        // A Peers message holds at most `WireLimits.peersCountMax` records, whatever the configuration says.
        self.peersPerReplyMax = min(max(0, configuration.discovery.peersPerReplyMax), WireLimits.peersCountMax)
    }

    /// A message arrived; `table` answers FindPeer.
    mutating func received(_ message: LookupMessage, table: RoutingTable) -> ResponderAction {
        switch (state, message) {
        case (_, .shutdown):
            return .close(sending: nil, isViolation: false)
        case (.awaitingPing, .ping(let nonce, let version)):
            guard networkVersion.accepts(version) else {
                return .close(sending: .incompatibleVersion, isViolation: false)
            }
            state = .awaitingFindPeer
            return .reply(.pong(nonce: nonce))
        case (.awaitingFindPeer, .findPeer(let target)):
            state = .awaitingPeer
            return .reply(.peers(closestPeers(to: target, in: table)))
        case (.awaitingPeer, .peer(let claimed)):
            state = .awaitingShutdown
            guard claimed.id != localID, claimed.port != 0, claimed.discoveryPort != 0 else { return .wait }
            return .learn(PeerRecord(id: claimed.id, address: remote.address, port: claimed.port,
                                     discoveryPort: claimed.discoveryPort))
        case (.awaitingPing, _), (.awaitingFindPeer, _), (.awaitingPeer, _), (.awaitingShutdown, _):
            return .close(sending: .malformedMessage, isViolation: true)
        }
    }

    /// The connection's deadline passed (spurious calls before it return `.wait`).
    func timeout(now: Instant) -> ResponderAction {
        now >= deadline ? .close(sending: .timeout, isViolation: false) : .wait
    }

    private func closestPeers(to target: PeerID, in table: RoutingTable) -> [PeerRecord] {
        var records = table.closest(to: target, count: peersPerReplyMax + 1)
        records.removeAll { $0.id == target }
        if records.count > peersPerReplyMax { records.removeLast(records.count - peersPerReplyMax) }
        return records
    }
}
