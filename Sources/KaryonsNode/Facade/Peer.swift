import KaryonsCore

/// A connected peer as one of your `PeerProtocol` instances sees it.
///
/// Messages arrive through `messages` (an `AsyncSequence` that ends when the peer disconnects); each
/// instance has its own bounded queue, and while it is full the node stops reading from the peer's
/// socket (backpressure) instead of buffering without bound. Sends go through the node's actor.
public final class Peer: Sendable, CustomStringConvertible {
    /// The peer's ID, as it claimed in the handshake.
    public let id: PeerID
    /// Who dialled whom.
    public let direction: Direction
    /// The remote end of the connection.
    public let endpoint: Endpoint
    /// The protocol this instance speaks.
    public let protocolID: ProtocolID
    /// The node the peer is connected to.
    public let node: Node

    init(info: PeerInfo, protocolID: ProtocolID, node: Node) {
        id = info.id
        direction = info.direction
        endpoint = info.endpoint
        self.protocolID = protocolID
        self.node = node
    }

    /// The peer's messages for this protocol, in order; ends when the peer disconnects.
    public var messages: PeerMessages { PeerMessages(peer: self) }

    /// Sends `payload` to the peer. Throws if the peer is gone or the payload cannot fit in a frame.
    public func send(_ payload: [UInt8]) async throws(PeerError) {
        try await node.send(payload, to: id, protocolID: protocolID)
    }

    /// Sends `payload` to every peer that negotiated this protocol.
    public func broadcast(_ payload: [UInt8]) async {
        await node.broadcast(payload, protocolID: protocolID)
    }

    /// Closes the connection to the peer.
    public func disconnect() async {
        await node.disconnect(id)
    }

    public var description: String { "\(id.shortDescription) \(direction) \(endpoint) \(protocolID)" }
}

/// Why a send to a peer failed.
public enum PeerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The peer is no longer connected.
    case disconnected
    /// The payload does not fit in one frame (`frameSizeMax`).
    case payloadTooLarge(Int)

    public var description: String {
        switch self {
        case .disconnected: return "the peer is disconnected"
        case .payloadTooLarge(let size): return "a payload of \(size) bytes does not fit in a frame"
        }
    }
}

/// The messages one protocol instance receives from its peer; ends when the peer disconnects.
public struct PeerMessages: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let peer: Peer

    public func makeAsyncIterator() -> Iterator { Iterator(peer: peer) }

    /// Takes messages from the node's queue for this peer and protocol.
    public struct Iterator: AsyncIteratorProtocol {
        let peer: Peer

        public mutating func next() async -> [UInt8]? {
            await peer.node.nextMessage(from: peer.id, protocolID: peer.protocolID)
        }
    }
}
