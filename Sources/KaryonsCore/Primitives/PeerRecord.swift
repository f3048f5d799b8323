/// What a node knows about how to reach another node: its ID, its address, its TCP data port, and
/// its discovery port (TCP lookups and UDP refresh share that port number).
///
/// Carried in lookup `Peer`/`Peers` messages and stored in routing-table entries. A port of 0 means
/// "not listening" (outbound-only nodes never advertise themselves).
public struct PeerRecord: Hashable, Sendable, CustomStringConvertible {
    /// The node's claimed identity.
    public var id: PeerID
    /// The node's address (observed, not trusted, when it comes from the network).
    public var address: IPAddress
    /// The TCP port of the node's data (peer) listener.
    public var port: UInt16
    /// The TCP lookup and UDP refresh port.
    public var discoveryPort: UInt16

    public init(id: PeerID, address: IPAddress, port: UInt16, discoveryPort: UInt16) {
        self.id = id
        self.address = address
        self.port = port
        self.discoveryPort = discoveryPort
    }

    public var description: String {
        let host = address.family == 6 ? "[\(address)]" : "\(address)"
        return "\(id.shortDescription)@\(host):\(port)/\(discoveryPort)"
    }
}
