import KaryonsCore

/// A protocol of your application, run on every peer connection that negotiated it.
///
/// Attach the type to a `Node` before starting it (`node.attach(MyProtocol.self)`). For every peer
/// whose handshake negotiated `id` (both sides attached it, with versions each side's requirement
/// accepts), the node creates one instance with `init(peer:)` and runs `run()` in a task on the
/// node's reactor (task-executor preference, so non-isolated code runs on the loop thread without
/// a hop). `peer.messages` ends when the peer disconnects; returning from `run()` leaves the peer
/// connected; throwing disconnects it. The node cancels the task when it shuts down.
public protocol PeerProtocol: Sendable {
    /// The protocol's ID on the wire (1…64 printable ASCII characters).
    static var id: ProtocolID { get }
    /// Version and requirement in the seed's form: `"0.2.0, >0.1.0"` means "I am 0.2.0 and accept
    /// peers above 0.1.0"; a bare `"0.1.0"` means `^0.1.0`.
    static var version: String { get }
    /// Whether a peer without this protocol is refused at the handshake (default: false).
    static var isMandatory: Bool { get }
    /// One instance per peer connection.
    init(peer: Peer)
    /// Runs for the life of the peer connection.
    func run() async throws
}

extension PeerProtocol {
    public static var isMandatory: Bool { false }
}

/// A protocol that runs directly on the reactor thread, called back for each message: no task, no
/// hop, no allocation beyond the payload. For throughput-critical protocols; see `Node.attachHandler`.
///
/// Called on the loop thread only; never block in it.
public protocol PeerMessageHandler: AnyObject {
    /// A message from the peer.
    func received(_ payload: [UInt8], from peer: PeerHandle)
    /// The peer left; the handler is released afterwards.
    func peerDisconnected(_ peer: PeerHandle, reason: PeerRemovalReason)
}

/// A peer as a reactor-callback protocol sees it: synchronous sends on the loop thread.
public struct PeerHandle: Hashable, @unchecked Sendable {
    /// The peer's identity.
    public let info: PeerInfo
    /// The protocol this handle sends on.
    public let protocolID: ProtocolID
    unowned(unsafe) let driver: NodeDriver

    public static func == (lhs: PeerHandle, rhs: PeerHandle) -> Bool {
        lhs.info == rhs.info && lhs.protocolID == rhs.protocolID
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(info)
        hasher.combine(protocolID)
    }

    /// Queues `payload` for the peer. Loop thread only.
    public func send(_ payload: [UInt8]) {
        driver.reactor.preconditionLoopThread()
        driver.submit(.send(to: info.id, protocolID: protocolID, payload: payload))
    }

    /// Queues `payload` for every peer that negotiated this protocol. Loop thread only.
    public func broadcast(_ payload: [UInt8]) {
        driver.reactor.preconditionLoopThread()
        driver.submit(.broadcast(protocolID: protocolID, payload: payload))
    }

    /// Closes the connection to the peer. Loop thread only.
    public func disconnect() {
        driver.reactor.preconditionLoopThread()
        driver.submit(.disconnect(info.id, reason: .none))
    }
}
