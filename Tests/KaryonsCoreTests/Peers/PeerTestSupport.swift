@testable import KaryonsCore

typealias ProtocolSpec = NodeConfiguration.ProtocolSpec

/// Small fixed values shared by the peer tests.
enum PeerFixtures {
    /// IDs whose order is obvious: `small < large`.
    static let small = PeerID(0, 0, 0, 0x0A)
    static let large = PeerID(0, 0, 0, 0x0B)

    static let v010 = ProtocolVersion(Version(0, 1, 0))
    static let chat = ProtocolSpec(id: "CHAT", version: v010)
    static let files = ProtocolSpec(id: "FILES", version: v010)

    /// `t(1.5)` is 1.5 s after the origin.
    static func t(_ seconds: Double) -> Instant { Instant(nanoseconds: UInt64((seconds * 1e9).rounded())) }

    static func identity(
        _ id: PeerID,
        version: ProtocolVersion = v010,
        protocols: [ProtocolSpec] = []
    ) -> HandshakeIdentity {
        HandshakeIdentity(id: id, networkVersion: version, protocols: [.ping] + protocols)
    }

    /// The Version message `identity` sends as a dialler.
    static func version(of identity: HandshakeIdentity) -> VersionMessage {
        guard case .version(let message) = identity.versionMessage else { preconditionFailure("not a Version") }
        return message
    }

    static func offers(_ specs: [ProtocolSpec]) -> [ProtocolOffer] {
        specs.map { ProtocolOffer(id: $0.id, version: $0.version.version) }
    }

    static func ping(_ nonce: Nonce) -> [UInt8] { payload(.ping(nonce)) }
    static func pong(_ nonce: Nonce) -> [UInt8] { payload(.pong(nonce)) }

    static func payload(_ ping: PingPayload) -> [UInt8] {
        var writer = ByteWriter()
        ping.encode(into: &writer)
        return writer.takeBytes()
    }

    static func endpoint(_ address: String, _ port: UInt16) -> Endpoint { .tcp(IPAddress(address)!, port) }

    /// The Verack of `id` (network version 0.1.0) accepting `protocols`, each at `protocolVersion`.
    static func accepted(
        by id: PeerID,
        _ protocols: [ProtocolID],
        protocolVersion: Version = Version(0, 1, 0)
    ) -> PeerMessage {
        let offers = protocols.map { ProtocolOffer(id: $0, version: protocolVersion) }
        return .verack(VerackMessage(peerID: id, version: Version(0, 1, 0), outcome: .accepted(protocols: offers)))
    }

    /// The dialler `id`'s confirmation of the listener's accepting Verack among `answer` (every
    /// protocol it accepted, at 0.1.0); nil if the listener did not accept.
    static func confirmation(by id: PeerID, of answer: [PeerMessage]) -> PeerMessage? {
        guard case .verack(let verack)? = answer.last, case .accepted(let protocols) = verack.outcome else { return nil }
        return accepted(by: id, protocols.map(\.id))
    }

    /// The Verack of `id` (network version 0.1.0) rejecting with `reason`.
    static func rejected(by id: PeerID, _ reason: DisconnectReason) -> PeerMessage {
        .verack(VerackMessage(peerID: id, version: Version(0, 1, 0), outcome: .rejected(reason)))
    }
}

// Pattern tests as properties and methods, so that expectations stay one short line.

extension NodeOutput {
    /// True for `.deliver` (of `protocolID`, if given).
    func isDelivery(of protocolID: ProtocolID? = nil) -> Bool {
        guard case .deliver(_, let delivered, _) = self else { return false }
        return protocolID.map { $0 == delivered } ?? true
    }

    var isPeerConnected: Bool {
        if case .peerConnected = self { return true }
        return false
    }

    /// The connection of a `.close`.
    var closedConnection: ConnectionID? {
        if case .close(let id) = self { return id }
        return nil
    }
}

extension NodeEvent {
    /// True for `.handshakeFailed` with this reason and side, whatever the endpoint.
    func isHandshakeFailure(_ reason: DisconnectReason, byRemote: Bool) -> Bool {
        if case .handshakeFailed(_, reason, byRemote) = self { return true }
        return false
    }
}

extension [NodeOutput] {
    /// True if any output is a `.deliver` (of `protocolID`, if given).
    func containsDelivery(of protocolID: ProtocolID? = nil) -> Bool { contains { $0.isDelivery(of: protocolID) } }
}

extension [NodeEvent] {
    func containsHandshakeFailure(_ reason: DisconnectReason, byRemote: Bool) -> Bool {
        contains { $0.isHandshakeFailure(reason, byRemote: byRemote) }
    }
}

extension CoreSignal {
    var isDialFailed: Bool {
        if case .dialFailed = self { return true }
        return false
    }
}
