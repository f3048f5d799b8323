// CONTRACT SKELETON (branch nodecore): the interface NodeCore calls. The peers helper replaces
// the bodies; the signatures are the contract with NodeCore (change them only together with it).

/// Peer-pool timers.
enum PeerTimer: Hashable {
    case redial
}

/// The connection half of a node: peer connections, handshakes, the pool and its slots, the core
/// PING protocol, and dispatch of protocol frames to the application.
struct PeerCore {
    init(configuration: NodeConfiguration, localID: PeerID) {}

    /// The peers whose handshake completed.
    var connectedPeers: [PeerInfo] { [] }
    /// The connection of a connected peer.
    func connection(of peer: PeerID) -> ConnectionID? { nil }

    /// An inbound peer connection: start the responder handshake, or refuse (slots, subnet cap).
    mutating func accepted(_ id: ConnectionID, from remote: Endpoint, _ cx: inout CoreContext) {}
    /// An outbound peer connection is established: send Version.
    mutating func connected(_ id: ConnectionID, _ cx: inout CoreContext) {}
    /// An outbound peer connection failed (the ID is already dead).
    mutating func connectFailed(_ id: ConnectionID, to remote: Endpoint, _ failure: ConnectFailure, _ cx: inout CoreContext) {}
    /// A peer-plane message arrived.
    mutating func received(_ message: PeerMessage, on id: ConnectionID, _ cx: inout CoreContext) {}
    /// The connection sent an undecodable frame: close it with `.malformedMessage` and forget it.
    mutating func malformed(_ id: ConnectionID, _ error: WireError, _ cx: inout CoreContext) {}
    /// The remote closed or reset the connection (the ID is already dead).
    mutating func connectionLost(_ id: ConnectionID, _ cause: CloseCause, _ cx: inout CoreContext) {}
    /// The deadline set with `cx.schedule(id, at:)` passed (handshake, ping, stall).
    mutating func connectionTimeout(_ id: ConnectionID, _ cx: inout CoreContext) {}
    /// The driver's send queue crossed a watermark.
    mutating func sendQueueChanged(_ id: ConnectionID, isHigh: Bool, _ cx: inout CoreContext) {}
    /// A pool timer fired.
    mutating func timeout(_ timer: PeerTimer, _ cx: inout CoreContext) {}
    /// `.send`, `.broadcast`, `.disconnect`, `.pauseDelivery` from the application.
    mutating func command(_ command: NodeCommand, _ cx: inout CoreContext) {}
    /// A signal from discovery (`dial`).
    mutating func handle(_ signal: CoreSignal, _ cx: inout CoreContext) {}
    /// Send Shutdown(shuttingDown) to every peer and close every peer connection.
    mutating func shutdown(_ cx: inout CoreContext) {}
    /// Consistency problems for the simulator's safety checks.
    func checkInvariants(_ cx: CoreContext) -> [String] { [] }
}
