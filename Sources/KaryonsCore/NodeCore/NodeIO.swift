/// A TCP connection as the core names it: a slot plus a generation, so a late event about a closed
/// connection whose slot was reused is recognised and dropped.
public typealias ConnectionID = SlotHandle

/// The two kinds of TCP connection a node holds. Their message kinds are disjoint (see DESIGN.md).
public enum Plane: Hashable, Sendable, CustomStringConvertible {
    /// A short-lived DHT lookup connection (Ping/Pong, FindPeer, Peers, Peer, Shutdown).
    case lookup
    /// A long-lived data connection to a peer (handshake, then protocol frames).
    case peer

    public var description: String {
        switch self {
        case .lookup: return "lookup"
        case .peer: return "peer"
        }
    }
}

/// Who opened a connection.
public enum Direction: Hashable, Sendable, CustomStringConvertible {
    /// The remote dialled us.
    case inbound
    /// We dialled the remote.
    case outbound

    public var description: String {
        switch self {
        case .inbound: return "inbound"
        case .outbound: return "outbound"
        }
    }
}

/// The listeners a node may ask its driver to open.
public enum ListenerKind: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// TCP data (peer) connections.
    case peer
    /// TCP lookup connections.
    case lookup
    /// The UDP refresh socket.
    case refresh

    public var description: String {
        switch self {
        case .peer: return "peer"
        case .lookup: return "lookup"
        case .refresh: return "refresh"
        }
    }
}

/// Why an outbound TCP connect did not complete.
public enum ConnectFailure: Error, Hashable, Sendable, CustomStringConvertible {
    /// The remote refused (RST to our SYN).
    case refused
    /// No answer within the connect timeout.
    case timedOut
    /// The network or host is unreachable, or no local resources were left (with the errno name).
    case failed(String)

    public var description: String {
        switch self {
        case .refused: return "refused"
        case .timedOut: return "timed out"
        case .failed(let reason): return reason
        }
    }
}

/// Why the driver reports a connection as gone.
public enum CloseCause: Hashable, Sendable, CustomStringConvertible {
    /// The remote closed its side (FIN) and we have nothing left to read.
    case closedByPeer
    /// The remote reset the connection.
    case reset
    /// A socket error (with the errno name).
    case failed(String)

    public var description: String {
        switch self {
        case .closedByPeer: return "closed by peer"
        case .reset: return "reset"
        case .failed(let reason): return reason
        }
    }
}

/// An event from the outside world, fed to `NodeCore.handle(_:now:)`.
public enum NodeInput {
    /// An outbound connection the core asked for (`.connect`) is established.
    case connected(ConnectionID)
    /// An outbound connection the core asked for failed; the ID is dead.
    case connectFailed(ConnectionID, ConnectFailure)
    /// Bytes arrived on a connection.
    case received(ConnectionID, [UInt8])
    /// The connection is gone (the remote closed or reset it, or it failed); the ID is dead.
    case closed(ConnectionID, CloseCause)
    /// The driver's send queue for the connection rose above its high watermark (the remote reads
    /// slowly), or fell back below the low watermark.
    case sendQueue(ConnectionID, isAboveHighWatermark: Bool)
    /// A UDP datagram arrived on the refresh socket.
    case datagram(from: Endpoint, [UInt8])
    /// A listener the core asked for is open, at `endpoint` (the bound port resolved).
    case listening(ListenerKind, Endpoint)
    /// A listener the core asked for could not be opened.
    case listenFailed(ListenerKind, Endpoint, reason: String)
    /// A command from the application.
    case command(NodeCommand)
}

/// A request from the application (the façade) to the core.
public enum NodeCommand: Hashable, Sendable {
    /// Open the listeners, start discovery and dialing.
    case start
    /// Send a protocol message to one peer (dropped, with an event, if the peer is gone or did not
    /// negotiate the protocol).
    case send(to: PeerID, protocolID: ProtocolID, payload: [UInt8])
    /// Send a protocol message to every peer that negotiated the protocol.
    case broadcast(protocolID: ProtocolID, payload: [UInt8])
    /// Close the connection to a peer, sending it `reason`.
    case disconnect(PeerID, reason: DisconnectReason)
    /// Stop (or resume) delivering a peer's protocol messages: the application's queue for it is full.
    /// While paused the core stops reading from that peer's socket (backpressure).
    case pauseDelivery(PeerID, paused: Bool)
    /// Dial a data endpoint and keep it connected (like `dialPeers`).
    case dial(Endpoint)
    /// Close every connection gracefully and stop; `.stopped` is the last output.
    case shutdown
}

/// An effect the core asks its driver to carry out, drained with `NodeCore.poll()`.
public enum NodeOutput: Hashable, Sendable {
    /// Open a listener.
    case listen(ListenerKind, Endpoint)
    /// Open a TCP connection; answer with `.connected` or `.connectFailed` for the same ID.
    case connect(ConnectionID, Plane, to: Endpoint, timeout: Duration)
    /// Bytes are waiting in the connection's outbox: take them with `NodeCore.takeOutgoing(_:)`.
    case transmit(ConnectionID)
    /// Close the connection after writing what was handed over; report nothing more about it.
    case close(ConnectionID)
    /// Stop (or resume) reading from the connection (backpressure toward the remote).
    case pauseReading(ConnectionID, paused: Bool)
    /// Send a UDP datagram from the refresh socket.
    case sendDatagram(RefreshDatagram, to: Endpoint)
    /// A peer completed its handshake: start the application's protocol instances for it.
    case peerConnected(PeerInfo)
    /// A peer is gone: stop its protocol instances.
    case peerDisconnected(PeerID, reason: PeerRemovalReason)
    /// A protocol message from a peer, for the application's protocol `protocolID`.
    case deliver(from: PeerID, protocolID: ProtocolID, payload: [UInt8])
    /// Something happened that a monitor may want to see.
    case event(NodeEvent)
    /// Shutdown is complete: every connection was closed; the driver may close its listeners.
    case stopped
}

/// A connected peer as the application sees it.
public struct PeerInfo: Hashable, Sendable, CustomStringConvertible {
    /// The peer's ID, as it claimed in the handshake.
    public var id: PeerID
    /// Who dialled whom.
    public var direction: Direction
    /// The remote end of the connection.
    public var endpoint: Endpoint
    /// The protocols both sides run on this connection (PING included).
    public var protocols: [ProtocolID]

    public init(id: PeerID, direction: Direction, endpoint: Endpoint, protocols: [ProtocolID]) {
        self.id = id
        self.direction = direction
        self.endpoint = endpoint
        self.protocols = protocols
    }

    public var description: String { "\(id.shortDescription) \(direction) \(endpoint) \(protocols)" }
}

/// Why a peer left the pool.
public enum PeerRemovalReason: Hashable, Sendable, CustomStringConvertible {
    /// The remote sent Shutdown with this reason.
    case remoteShutdown(DisconnectReason)
    /// We closed it, with this reason sent to the remote.
    case localShutdown(DisconnectReason)
    /// The TCP connection closed or failed.
    case connectionLost(CloseCause)
    /// It did not answer `pingMissesMax` consecutive pings.
    case pingTimeout
    /// It sent something malformed or out of place.
    case protocolViolation(String)
    /// It did not read what we sent for `sendStallTimeout`, or let too much pile up.
    case sendStalled

    public var description: String {
        switch self {
        case .remoteShutdown(let reason): return "remote shutdown (\(reason))"
        case .localShutdown(let reason): return "local shutdown (\(reason))"
        case .connectionLost(let cause): return "connection lost (\(cause))"
        case .pingTimeout: return "ping timeout"
        case .protocolViolation(let what): return "protocol violation: \(what)"
        case .sendStalled: return "send stalled"
        }
    }
}
