/// What a monitor sees: connection, pool and discovery events, in the order they happened.
///
/// Emitted through `NodeOutput.event`. Every case carries plain values, so events can be stored,
/// compared in tests, and printed one per line (`description`).
public enum NodeEvent: Hashable, Sendable, CustomStringConvertible {
    // MARK: Connections
    /// A listener is open.
    case listening(ListenerKind, Endpoint)
    /// A listener could not be opened.
    case listenFailed(ListenerKind, Endpoint, reason: String)
    /// An outbound connection is established.
    case connected(Plane, Endpoint)
    /// An outbound connection attempt failed; `willRetry` tells whether another attempt follows.
    case connectFailed(Plane, Endpoint, ConnectFailure, willRetry: Bool)
    /// An inbound connection was accepted.
    case accepted(Plane, Endpoint)
    /// An inbound connection was refused at once (no free slot, subnet cap, shutting down).
    case refused(Plane, Endpoint, DisconnectReason)
    /// A connection ended.
    case disconnected(Plane, Endpoint)

    // MARK: Pool
    /// A peer completed its handshake and joined the pool.
    case peerAdded(PeerInfo)
    /// A peer left the pool.
    case peerRemoved(PeerID, PeerRemovalReason)
    /// A handshake failed; the connection was closed.
    case handshakeFailed(Endpoint, DisconnectReason, byRemote: Bool)
    /// A protocol message for a peer was dropped (peer gone or stalled, protocol not negotiated,
    /// payload too large for a frame).
    case sendDropped(to: PeerID, ProtocolID, reason: String)

    // MARK: Discovery
    /// A lookup through a seed or table entry began.
    case lookupStarted(Endpoint)
    /// A lookup finished; `learned` peers were offered to the routing table.
    case lookupSucceeded(Endpoint, learned: Int)
    /// A lookup failed.
    case lookupFailed(Endpoint, reason: String)
    /// A refresh round began, with this many candidates.
    case refreshStarted(candidates: Int)
    /// A refresh round ended.
    case refreshFinished(verified: Int, failed: Int, evicted: Int)
    /// A routing-table entry was added (unverified unless it answered us directly).
    case entryAdded(PeerRecord, EntryStatus)
    /// An entry answered us and is now verified (dialable, shareable).
    case entryVerified(PeerID)
    /// An entry was removed after repeated failures, or replaced in a full bucket.
    case entryEvicted(PeerID)
    /// Nothing is dialable and no seed answered: the node backs off before seeding again.
    case seedingBackoff(Duration)
    /// A UDP datagram was dropped (malformed, unsolicited or rate-limited).
    case datagramDropped(from: Endpoint, reason: String)

    public var description: String {
        switch self {
        case .listening(let kind, let endpoint): return "listening \(kind) \(endpoint)"
        case .listenFailed(let kind, let endpoint, let reason): return "listen failed \(kind) \(endpoint): \(reason)"
        case .connected(let plane, let endpoint): return "connected \(plane) \(endpoint)"
        case .connectFailed(let plane, let endpoint, let failure, let willRetry):
            return "connect failed \(plane) \(endpoint): \(failure)\(willRetry ? ", retrying" : "")"
        case .accepted(let plane, let endpoint): return "accepted \(plane) \(endpoint)"
        case .refused(let plane, let endpoint, let reason): return "refused \(plane) \(endpoint): \(reason)"
        case .disconnected(let plane, let endpoint): return "disconnected \(plane) \(endpoint)"
        case .peerAdded(let info): return "peer added \(info)"
        case .peerRemoved(let id, let reason): return "peer removed \(id.shortDescription): \(reason)"
        case .handshakeFailed(let endpoint, let reason, let byRemote):
            return "handshake failed \(endpoint): \(reason)\(byRemote ? " (refused by remote)" : "")"
        case .sendDropped(let peer, let protocolID, let reason):
            return "send to \(peer.shortDescription) dropped (\(protocolID)): \(reason)"
        case .lookupStarted(let endpoint): return "lookup started \(endpoint)"
        case .lookupSucceeded(let endpoint, let learned): return "lookup succeeded \(endpoint) learned \(learned)"
        case .lookupFailed(let endpoint, let reason): return "lookup failed \(endpoint): \(reason)"
        case .refreshStarted(let candidates): return "refresh started, \(candidates) candidates"
        case .refreshFinished(let verified, let failed, let evicted):
            return "refresh finished: \(verified) verified, \(failed) failed, \(evicted) evicted"
        case .entryAdded(let record, let status): return "entry added \(record) \(status)"
        case .entryVerified(let id): return "entry verified \(id.shortDescription)"
        case .entryEvicted(let id): return "entry evicted \(id.shortDescription)"
        case .seedingBackoff(let delay): return "nothing to dial, seeding again in \(delay)"
        case .datagramDropped(let endpoint, let reason): return "datagram dropped from \(endpoint): \(reason)"
        }
    }
}
