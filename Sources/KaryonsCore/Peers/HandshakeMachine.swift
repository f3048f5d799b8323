/// What one side of a handshake says about itself: its ID, its network version and requirement, and
/// the protocols it runs (PING first, mandatory). Built once per node and shared by every handshake.
struct HandshakeIdentity {
    /// This node's ID.
    let id: PeerID
    /// This node's network version and the requirement it places on the remote's.
    let networkVersion: ProtocolVersion
    /// Every protocol this node runs, in the order it lists them.
    let protocols: [NodeConfiguration.ProtocolSpec]
    /// The Version message a dialler sends (precomputed: it is the same for every dial).
    let versionMessage: PeerMessage

    /// `protocols` listing an ID twice keep its first entry (so that no message lists an ID twice).
    init(id: PeerID, networkVersion: ProtocolVersion, protocols: [NodeConfiguration.ProtocolSpec]) {
        self.id = id
        self.networkVersion = networkVersion
        var unique: [NodeConfiguration.ProtocolSpec] = []
        for spec in protocols where !unique.contains(where: { $0.id == spec.id }) { unique.append(spec) }
        self.protocols = unique
        let offers = unique.map { ProtocolOffer(id: $0.id, version: $0.version.version) }
        versionMessage = .version(VersionMessage(peerID: id, version: networkVersion.version, protocols: offers))
    }

    init(configuration: NodeConfiguration, localID: PeerID) {
        self.init(
            id: localID,
            networkVersion: configuration.networkVersion,
            protocols: configuration.runningProtocols
        )
    }

    /// The protocols both sides run, in our order: the remote offers the same ID and our requirement
    /// accepts the version it offers. The listener applies it to the dialler's Version, the dialler
    /// to the listener's Verack, so each side checks the other's versions against its requirements.
    func intersection(with offers: [ProtocolOffer]) -> [ProtocolID] {
        protocols.compactMap { spec in
            guard let offer = offers.first(where: { $0.id == spec.id }), spec.version.accepts(offer.version) else {
                return nil
            }
            return spec.id
        }
    }

    /// `ids` (protocols we run) with the versions we speak, for an accepting Verack.
    func offers(for ids: [ProtocolID]) -> [ProtocolOffer] {
        ids.compactMap { id in
            protocols.first { $0.id == id }.map { ProtocolOffer(id: id, version: $0.version.version) }
        }
    }

    /// The first protocol we require (PING, or one marked mandatory) that `negotiated` lacks.
    func missingMandatoryProtocol(in negotiated: [ProtocolID]) -> ProtocolID? {
        protocols.first { $0.isMandatory && !negotiated.contains($0.id) }?.id
    }
}

/// Why a handshake did not produce a peer. `reason` is the code sent to (or received from) the remote.
enum HandshakeFailure: Hashable, CustomStringConvertible {
    /// The remote's network version does not meet our requirement.
    case incompatibleVersion(Version)
    /// A protocol we require is not in the negotiated set.
    case mandatoryProtocolMissing(ProtocolID)
    /// The remote has our own ID (we dialled ourselves, or a NAT hairpin).
    case selfConnection
    /// We already have a connection to this peer that the tie-break keeps.
    case duplicatePeer
    /// A dial for a known ID reached a node with another ID.
    case unexpectedPeer(expected: PeerID, actual: PeerID)
    /// A message out of order (Verack to a listener, Version to a dialler, Protocol before the end).
    case unexpectedMessage(MessageKind)
    /// A Verack lists a protocol we did not offer (or, confirming, one we did not accept).
    case unofferedProtocol(ProtocolID)
    /// The remote sent a frame we could not decode.
    case malformed(WireError)
    /// Our own Version could not be encoded (a configuration with too many or duplicate protocols).
    case unencodable(WireError)
    /// No answer within `handshakeTimeout`.
    case timeout
    /// The remote refused us (Verack rejected, or Shutdown), with its reason.
    case refusedByRemote(DisconnectReason)
    /// The connection closed or failed mid-handshake.
    case connectionLost(CloseCause)

    /// The reason code on the wire.
    var reason: DisconnectReason {
        switch self {
        case .incompatibleVersion: return .incompatibleVersion
        case .mandatoryProtocolMissing: return .mandatoryProtocolMissing
        case .selfConnection: return .selfConnection
        case .duplicatePeer: return .duplicatePeer
        case .unexpectedPeer, .unencodable, .connectionLost: return .none
        case .unexpectedMessage, .unofferedProtocol, .malformed: return .malformedMessage
        case .timeout: return .timeout
        case .refusedByRemote(let reason): return reason
        }
    }

    /// True when the remote ended the handshake rather than us.
    var isByRemote: Bool {
        switch self {
        case .refusedByRemote, .connectionLost: return true
        case .incompatibleVersion, .mandatoryProtocolMissing, .selfConnection, .duplicatePeer, .unexpectedPeer,
            .unexpectedMessage, .unofferedProtocol, .malformed, .unencodable, .timeout:
            return false
        }
    }

    /// True for the remote breaking the protocol (counted in `protocolViolations`).
    var isProtocolViolation: Bool { reason == .malformedMessage }

    var description: String {
        switch self {
        case .incompatibleVersion(let version): return "incompatible network version \(version)"
        case .mandatoryProtocolMissing(let id): return "mandatory protocol \(id) missing"
        case .selfConnection: return "self connection"
        case .duplicatePeer: return "duplicate peer"
        case .unexpectedPeer(let expected, let actual):
            return "expected peer \(expected.shortDescription), reached \(actual.shortDescription)"
        case .unexpectedMessage(let kind): return "unexpected \(kind) during the handshake"
        case .unofferedProtocol(let id): return "the remote negotiated \(id), which we did not offer or accept"
        case .malformed(let error): return "malformed frame: \(error)"
        case .unencodable(let error): return "our Version cannot be encoded: \(error)"
        case .timeout: return "handshake timeout"
        case .refusedByRemote(let reason): return "refused by the remote (\(reason))"
        case .connectionLost(let cause): return "connection lost (\(cause))"
        }
    }
}

/// A handshake that passed every check of this side: who the remote is and what both sides run.
struct HandshakeResult: Hashable {
    /// The remote's claimed ID.
    var peerID: PeerID
    /// The remote's network version.
    var version: Version
    /// The negotiated protocols (PING included), in the listener's order.
    var protocols: [ProtocolID]
}

/// What the caller must do after feeding an event to a `HandshakeMachine`.
enum HandshakeAction: Hashable {
    /// Nothing yet; keep waiting (until the machine's `deadline`).
    case wait
    /// Send this message (the dialler's Version).
    case send(PeerMessage)
    /// The remote passed this side's checks. The pool decides on duplicates; then send `accept(_:)`
    /// (a Verack: the listener's answer, or the dialler's confirmation, after which the dialler's peer
    /// is established) or `refusal(_:)`.
    case completed(HandshakeResult)
    /// Listener: the dialler confirmed with its own Verack; the peer is established with the
    /// protocols both sides accepted (already in the pool since `.completed`).
    case confirmed(HandshakeResult)
    /// The handshake failed: send `message` if given (our reason), then close the connection.
    case fail(HandshakeFailure, sending: PeerMessage?)
}

/// The handshake of one peer connection, either side, as an I/O-free machine (DESIGN.md, "Handshake"
/// and "Wire format v1").
///
/// Three messages, symmetric checks: the dialler sends Version (on `start`: its protocols with
/// versions); the listener checks it and answers Verack, accepted with the protocols that pass its
/// requirements (with the versions it speaks) or rejected with a reason; the dialler checks the
/// listener's ID, version and protocol versions against its own requirements exactly as the listener
/// did, and either confirms with its own accepting Verack listing the protocols that passed both
/// sides (and is established), or refuses with Shutdown. The listener is established on that
/// confirmation, with the confirmed list, so both sides always run the same set; the listener sends
/// no Protocol frame before it, and TCP order puts it before the dialler's first Protocol frame.
///
/// Checks, in order: self connection, the expected ID (dialler), the network version against our
/// requirement, the protocol intersection (same ID, our requirement accepts the remote's version,
/// only protocols we offered or accepted listed) and every mandatory protocol (PING always) in it.
/// Both sides give up after `handshakeTimeout`, confirmation included. Anything out of order — a
/// Verack before a Version, a Version to the dialler, a Protocol frame before the end — fails with
/// `malformedMessage`; a Shutdown from the remote fails with its reason.
///
/// Duplicate peers are the pool's decision (`PeerPool.join`), made after `.completed`.
/// Events: `start(now:)` (dialler, when the TCP connect completes), `received(_:)`, `timeout(now:)`.
/// After `.fail`, `.confirmed`, or `.completed` and (dialler) `accept`, the machine takes no more events.
struct HandshakeMachine {
    /// Which side of the connection we are.
    enum Role: Hashable {
        /// We dialled; `expected` is the ID we meant to reach, if known.
        case dialler(expected: PeerID?)
        /// The remote dialled our listener.
        case listener
    }

    private enum State: Hashable {
        /// Dialler before `start`.
        case idle
        /// Dialler: Version sent, waiting for Verack.
        case awaitingVerack
        /// Listener: waiting for Version.
        case awaitingVersion
        /// Listener: accepted (Verack sent, peer in the pool), waiting for the dialler's Verack.
        case awaitingConfirmation(HandshakeResult)
        /// Completed or failed.
        case finished
    }

    let role: Role
    private let identity: HandshakeIdentity
    private let timeout: Duration
    private var state: State
    /// When the handshake gives up (set by `start` for the dialler, at creation for the listener).
    private(set) var deadline: Instant?

    /// The dialler's machine; call `start(now:)` once the TCP connection is established.
    init(dialling expected: PeerID?, identity: HandshakeIdentity, timeout: Duration) {
        role = .dialler(expected: expected)
        self.identity = identity
        self.timeout = timeout
        state = .idle
    }

    /// The listener's machine for a connection accepted at `now`.
    init(listeningAt now: Instant, identity: HandshakeIdentity, timeout: Duration) {
        role = .listener
        self.identity = identity
        self.timeout = timeout
        state = .awaitingVersion
        deadline = now + timeout
    }

    /// True once the machine completed or failed.
    var isFinished: Bool { state == .finished }

    /// True for a listener that accepted and waits for the dialler's confirmation (its peer is
    /// already in the pool).
    var isAwaitingConfirmation: Bool {
        if case .awaitingConfirmation = state { return true }
        return false
    }

    /// The dialler's connection is established: send Version and start the clock.
    mutating func start(now: Instant) -> HandshakeAction {
        guard state == .idle, case .dialler = role else {
            preconditionFailure("BUG in Karyons: handshake start in \(state) as \(role)")
        }
        state = .awaitingVerack
        deadline = now + timeout
        return .send(identity.versionMessage)
    }

    /// A message from the remote.
    mutating func received(_ message: PeerMessage) -> HandshakeAction {
        switch (state, message) {
        case (.awaitingVersion, .version(let version)):
            return finish(checkingVersion: version)
        case (.awaitingVerack, .verack(let verack)):
            return finish(checkingVerack: verack)
        case (.awaitingConfirmation(let accepted), .verack(let verack)):
            return finish(checkingConfirmation: verack, of: accepted)
        case (.awaitingVersion, .shutdown(let reason)), (.awaitingVerack, .shutdown(let reason)),
            (.awaitingConfirmation, .shutdown(let reason)):
            return finish(.refusedByRemote(reason), sending: nil)
        case (.awaitingVersion, .verack), (.awaitingVersion, .protocol),
            (.awaitingVerack, .version), (.awaitingVerack, .protocol),
            (.awaitingConfirmation, .version), (.awaitingConfirmation, .protocol):
            return refuse(.unexpectedMessage(message.kind))
        case (.idle, _), (.finished, _):
            preconditionFailure("BUG in Karyons: handshake message \(message.kind) in \(state)")
        }
    }

    /// The remote sent an undecodable frame.
    mutating func malformed(_ error: WireError) -> HandshakeAction {
        precondition(state != .finished, "BUG in Karyons: malformed frame after the handshake finished")
        return refuse(.malformed(error))
    }

    /// The connection's deadline passed (spurious calls before `deadline` change nothing).
    mutating func timeout(now: Instant) -> HandshakeAction {
        guard state != .finished, let deadline, now >= deadline else { return .wait }
        return refuse(.timeout)
    }

    /// The pool admitted the peer of `.completed(result)`: the Verack to send, accepting with the
    /// negotiated protocols and our versions of them. The dialler's handshake is then over; the
    /// listener waits for the dialler's confirmation (`.confirmed` or `.fail`).
    mutating func accept(_ result: HandshakeResult) -> PeerMessage {
        precondition(state == .finished, "BUG in Karyons: accepting a handshake in \(state)")
        if case .listener = role { state = .awaitingConfirmation(result) }
        return .verack(
            VerackMessage(
                peerID: identity.id,
                version: identity.networkVersion.version,
                outcome: .accepted(protocols: identity.offers(for: result.protocols))
            )
        )
    }

    /// What this side sends to refuse with `reason`: Verack rejected (listener) or Shutdown (dialler).
    func refusal(_ reason: DisconnectReason) -> PeerMessage {
        switch role {
        case .listener:
            return .verack(
                VerackMessage(
                    peerID: identity.id,
                    version: identity.networkVersion.version,
                    outcome: .rejected(reason)
                )
            )
        case .dialler:
            return .shutdown(reason)
        }
    }

    // MARK: Checks

    private mutating func finish(checkingVersion message: VersionMessage) -> HandshakeAction {
        if message.peerID == identity.id { return refuse(.selfConnection) }
        guard identity.networkVersion.accepts(message.version) else {
            return refuse(.incompatibleVersion(message.version))
        }
        let negotiated = identity.intersection(with: message.protocols)
        if let missing = identity.missingMandatoryProtocol(in: negotiated) {
            return refuse(.mandatoryProtocolMissing(missing))
        }
        state = .finished
        return .completed(HandshakeResult(peerID: message.peerID, version: message.version, protocols: negotiated))
    }

    private mutating func finish(checkingVerack message: VerackMessage) -> HandshakeAction {
        let negotiated: [ProtocolOffer]
        switch message.outcome {
        case .rejected(let reason): return finish(.refusedByRemote(reason), sending: nil)
        case .accepted(let protocols): negotiated = protocols
        }
        if message.peerID == identity.id { return refuse(.selfConnection) }
        if case .dialler(let expected?) = role, expected != message.peerID {
            return refuse(.unexpectedPeer(expected: expected, actual: message.peerID))
        }
        guard identity.networkVersion.accepts(message.version) else {
            return refuse(.incompatibleVersion(message.version))
        }
        if let unoffered = negotiated.first(where: { offer in !identity.protocols.contains { $0.id == offer.id } }) {
            return refuse(.unofferedProtocol(unoffered.id))
        }
        // Our requirements on the listener's versions, in the listener's order.
        let accepted = identity.intersection(with: negotiated)
        let protocols = negotiated.map(\.id).filter { accepted.contains($0) }
        if let missing = identity.missingMandatoryProtocol(in: protocols) {
            return refuse(.mandatoryProtocolMissing(missing))
        }
        state = .finished
        return .completed(HandshakeResult(peerID: message.peerID, version: message.version, protocols: protocols))
    }

    /// Listener: the dialler's Verack may only narrow what we accepted, and must keep every protocol
    /// we require.
    private mutating func finish(checkingConfirmation message: VerackMessage, of accepted: HandshakeResult)
        -> HandshakeAction
    {
        let confirmed: [ProtocolOffer]
        switch message.outcome {
        case .rejected(let reason): return finish(.refusedByRemote(reason), sending: nil)
        case .accepted(let protocols): confirmed = protocols
        }
        if message.peerID != accepted.peerID {
            return refuse(.unexpectedPeer(expected: accepted.peerID, actual: message.peerID))
        }
        if let unoffered = confirmed.first(where: { !accepted.protocols.contains($0.id) }) {
            return refuse(.unofferedProtocol(unoffered.id))
        }
        var result = accepted
        result.protocols = accepted.protocols.filter { id in confirmed.contains { $0.id == id } }
        if let missing = identity.missingMandatoryProtocol(in: result.protocols) {
            return refuse(.mandatoryProtocolMissing(missing))
        }
        state = .finished
        return .confirmed(result)
    }

    /// Fails, telling the remote why (Verack rejected or Shutdown, by role).
    private mutating func refuse(_ failure: HandshakeFailure) -> HandshakeAction {
        finish(failure, sending: refusal(failure.reason))
    }

    private mutating func finish(_ failure: HandshakeFailure, sending message: PeerMessage?) -> HandshakeAction {
        state = .finished
        return .fail(failure, sending: message)
    }
}
