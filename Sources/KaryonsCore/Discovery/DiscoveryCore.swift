// CONTRACT SKELETON (branch nodecore): the interface NodeCore calls. The discovery helper replaces
// the bodies; the signatures are the contract with NodeCore (change them only together with it).

/// Discovery timers (one deadline each in the node's queue).
enum DiscoveryTimer: Hashable {
    case seeding
}

/// The DHT half of a node: routing table, lookups over TCP (both sides), refresh over UDP (both
/// sides), seeding and the dialer that fills outbound slots.
struct DiscoveryCore {
    private(set) var table: RoutingTable
    private var rng: SplitMix64

    init(configuration: NodeConfiguration, localID: PeerID, rng: SplitMix64) {
        table = RoutingTable(localID: localID, configuration: configuration.routingTable)
        self.rng = rng
    }

    /// `.start`: open the lookup and refresh listeners (if any), start seeding, dial manual peers.
    mutating func start(_ cx: inout CoreContext) {}
    /// A listener is open at `endpoint` (resolved port): what we advertise in Peer messages.
    mutating func listening(_ kind: ListenerKind, at endpoint: Endpoint, _ cx: inout CoreContext) {}
    /// An inbound lookup connection (responder side); refuse with `cx.close(id, sending: .noFreeSlot)`.
    mutating func accepted(_ id: ConnectionID, from remote: Endpoint, _ cx: inout CoreContext) {}
    /// An outbound lookup connection is established.
    mutating func connected(_ id: ConnectionID, _ cx: inout CoreContext) {}
    /// An outbound lookup connection failed (the ID is already dead).
    mutating func connectFailed(_ id: ConnectionID, to remote: Endpoint, _ failure: ConnectFailure, _ cx: inout CoreContext) {}
    /// A lookup-plane message arrived.
    mutating func received(_ message: LookupMessage, on id: ConnectionID, _ cx: inout CoreContext) {}
    /// The connection sent an undecodable frame: close it with `.malformedMessage` and forget it.
    mutating func malformed(_ id: ConnectionID, _ error: WireError, _ cx: inout CoreContext) {}
    /// The remote closed or reset a lookup connection (the ID is already dead).
    mutating func connectionLost(_ id: ConnectionID, _ cause: CloseCause, _ cx: inout CoreContext) {}
    /// The deadline set with `cx.schedule(id, at:)` passed.
    mutating func connectionTimeout(_ id: ConnectionID, _ cx: inout CoreContext) {}
    /// A refresh datagram arrived on the UDP socket.
    mutating func datagram(_ datagram: RefreshDatagram, from source: Endpoint, _ cx: inout CoreContext) {}
    /// A discovery timer fired.
    mutating func timeout(_ timer: DiscoveryTimer, _ cx: inout CoreContext) {}
    /// `.dial(endpoint)` from the application: a manual peer, kept connected.
    mutating func dialManually(_ endpoint: Endpoint, _ cx: inout CoreContext) {}
    /// A signal from the peer half (`dialFailed`, `peerAdded`, `peerRemoved`).
    mutating func handle(_ signal: CoreSignal, _ cx: inout CoreContext) {}
    /// Close every lookup connection and stop every timer.
    mutating func shutdown(_ cx: inout CoreContext) {}
    /// Consistency problems for the simulator's safety checks.
    func checkInvariants(_ cx: CoreContext) -> [String] { [] }
}
