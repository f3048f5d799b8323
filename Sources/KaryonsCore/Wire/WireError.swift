/// Why bytes from the network are not a valid wire-format v1 message.
///
/// Every decoder in `Wire/` reports bad input with one of these and never traps. On a TCP
/// connection any of them means: close the connection (with `Shutdown(.malformedMessage)` where a
/// reply is sensible). On the UDP refresh plane the datagram is dropped silently and counted.
/// The encoders throw a few of them too (`frameTooLarge`, `tooManyProtocols`, `duplicateProtocolID`,
/// `zeroPeerID`) for values the decoder would refuse, so that whatever is sent can be received.
public enum WireError: Error, Hashable, Sendable {
    /// A frame length prefix of 0 (a frame holds at least its kind byte). The stream is unusable.
    case frameLengthZero
    /// A frame length above the decoder's `frameSizeMax` (refused before any allocation), or a
    /// message too large to encode. The stream is unusable.
    case frameTooLarge(length: Int, max: Int)
    /// The message ended early: `needed` more bytes were required, only `remaining` were left.
    case truncated(needed: Int, remaining: Int)
    /// Bytes left over after a complete message (policy: rejected, no silent extension).
    case trailingBytes(Int)
    /// A frame kind byte that names no message.
    case unknownKind(UInt8)
    /// A kind of the other plane (a lookup message on a peer connection or vice versa).
    case wrongPlane(MessageKind)
    /// A Peers message with more than `WireLimits.peersCountMax` records.
    case tooManyPeers(Int)
    /// A Version or Verack message with more than `WireLimits.protocolsCountMax` protocols.
    case tooManyProtocols(Int)
    /// The same protocol ID twice in one Version or Verack message.
    case duplicateProtocolID(ProtocolID)
    /// A protocol ID length outside `1...WireLimits.protocolIDLengthMax`.
    case invalidProtocolIDLength(Int)
    /// A protocol ID byte that is not visible ASCII (0x21...0x7E).
    case invalidProtocolIDByte(UInt8)
    /// A PeerRecord address family other than 4 or 6.
    case invalidAddressFamily(UInt8)
    /// The all-zero peer ID where a node identity is required (records, Version, Verack).
    case zeroPeerID
    /// A boolean byte other than 0 or 1 (Verack's `accepted`).
    case invalidFlag(UInt8)
    /// A reason code outside 0...8.
    case unknownReason(UInt8)
    /// A Verack that accepts and gives a reason other than `none`.
    case reasonOnAcceptedVerack(DisconnectReason)
    /// A Verack that rejects and still lists negotiated protocols.
    case protocolsOnRejectedVerack(Int)
    /// A refresh datagram that is not exactly `RefreshDatagram.size` bytes.
    case datagramSize(Int)
    /// A refresh datagram kind other than 0x01 (ping) or 0x02 (pong).
    case unknownDatagramKind(UInt8)
    /// A Ping-protocol payload kind other than 0 (ping) or 1 (pong).
    case unknownPingKind(UInt8)
}

/// The named limits of wire format v1.
public enum WireLimits {
    /// Bytes in a frame's length prefix.
    public static let lengthPrefixSize = 4
    /// Default largest frame length (kind + body): 1 MiB, as the Rust original's payload limit.
    public static let frameSizeMaxDefault = 1 << 20
    /// The smallest `frameSizeMax` a decoder accepts: every message but Protocol fits in it (the
    /// largest, a Version with 32 protocols of 64-byte IDs, is `controlFrameSizeMax` bytes).
    public static let frameSizeMaxFloor = 4096
    /// The largest frame length of any message other than Protocol.
    public static let controlFrameSizeMax =
        1 + PeerID.byteCount + versionSize + 1 + protocolsCountMax * (1 + protocolIDLengthMax + versionSize)
    /// Most records in one Peers message (a lookup reply).
    public static let peersCountMax = 10
    /// Most protocols in one Version or Verack message.
    public static let protocolsCountMax = 32
    /// Longest protocol ID, in bytes.
    public static let protocolIDLengthMax = 64
    /// Bytes of a version on the wire (three u32).
    public static let versionSize = 12
}

/// The kind byte of a TCP frame. Lookup-plane kinds are 0x01...0x06, peer-plane kinds 0x10...0x12;
/// `shutdown` (0x06) is valid on both planes.
public enum MessageKind: UInt8, Hashable, Sendable, CaseIterable {
    /// Lookup Ping: nonce · version.
    case ping = 0x01
    /// Lookup Pong: nonce.
    case pong = 0x02
    /// FindPeer: target ID.
    case findPeer = 0x03
    /// Peer: one PeerRecord (the sender itself).
    case peer = 0x04
    /// Peers: up to 10 PeerRecords (the reply to FindPeer).
    case peers = 0x05
    /// Shutdown: a reason code; graceful close on either plane.
    case shutdown = 0x06
    /// Version: the dialler's handshake offer.
    case version = 0x10
    /// Verack: the listener's handshake answer.
    case verack = 0x11
    /// Protocol: a message of one negotiated protocol.
    case `protocol` = 0x12

    /// True for kinds that may appear on a lookup connection.
    public var isLookupPlane: Bool {
        switch self {
        case .ping, .pong, .findPeer, .peer, .peers, .shutdown: return true
        case .version, .verack, .protocol: return false
        }
    }

    /// True for kinds that may appear on a peer (data) connection.
    public var isPeerPlane: Bool {
        switch self {
        case .version, .verack, .protocol, .shutdown: return true
        case .ping, .pong, .findPeer, .peer, .peers: return false
        }
    }
}

/// Why a connection is being closed or a handshake refused (Shutdown and Verack reason byte).
public enum DisconnectReason: UInt8, Hashable, Sendable, CaseIterable {
    /// No particular reason (a normal end, e.g. after a lookup).
    case none = 0
    /// The remote's network or protocol version does not meet our requirement.
    case incompatibleVersion = 1
    /// A protocol we require is not in the negotiated set.
    case mandatoryProtocolMissing = 2
    /// The remote has our own ID.
    case selfConnection = 3
    /// We are already connected to this peer.
    case duplicatePeer = 4
    /// No inbound slot is free.
    case noFreeSlot = 5
    /// The remote sent something we could not decode or did not expect.
    case malformedMessage = 6
    /// The remote did not answer in time.
    case timeout = 7
    /// This node is shutting down.
    case shuttingDown = 8
}
