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
}
