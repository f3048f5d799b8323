/// Everything a node can be configured with, and the defaults of the Rust original
/// (../shared/reference/karyons-behaviour.md §6) where it had one.
///
/// A value type, fixed for the life of a `NodeCore`. Endpoints are `tcp://`/`udp://` literals, IPv4 or
/// IPv6. A node with no `peerListener` is outbound-only: it never advertises itself and has no
/// lookup or refresh listener.
public struct NodeConfiguration: Hashable, Sendable {
    /// The network version this node speaks and the requirement it places on others, seed form
    /// (`"0.1.0"` means version 0.1.0, requirement `^0.1.0`).
    public var networkVersion: ProtocolVersion
    /// The TCP data listener (`tcp://host:port`), or nil for an outbound-only node.
    public var peerListener: Endpoint?
    /// The TCP lookup listener; nil uses the data listener's host with `discoveryPort`.
    public var lookupListener: Endpoint?
    /// The UDP refresh listener; nil uses the lookup listener's host and port over UDP.
    public var refreshListener: Endpoint?
    /// The address advertised to others when listening on 0.0.0.0/::; nil advertises the bound address.
    public var externalAddress: IPAddress?
    /// Lookup (discovery) endpoints of seed nodes, used when the table has nothing verified.
    public var bootstrapPeers: [Endpoint]
    /// Data endpoints dialled directly and redialled with backoff when they drop.
    public var dialPeers: [Endpoint]
    /// The application protocols this node runs on peer connections (the core PING protocol is
    /// always added, mandatory; see `runningProtocols`).
    public var protocols: [ProtocolSpec]
    /// Connection slots.
    public var slots: Slots
    /// Peer connections: handshake, keep-alive, queues.
    public var peers: Peers
    /// The DHT: lookups, refresh, seeding, dialing.
    public var discovery: Discovery
    /// Routing-table limits (subnet diversity).
    public var routingTable: RoutingTable.Configuration
    /// The largest TCP frame accepted or sent (length field), on both planes.
    public var frameSizeMax: Int

    public init(
        networkVersion: ProtocolVersion = ProtocolVersion(Version(0, 1, 0)),
        peerListener: Endpoint? = nil,
        lookupListener: Endpoint? = nil,
        refreshListener: Endpoint? = nil,
        externalAddress: IPAddress? = nil,
        bootstrapPeers: [Endpoint] = [],
        dialPeers: [Endpoint] = [],
        protocols: [ProtocolSpec] = [],
        slots: Slots = Slots(),
        peers: Peers = Peers(),
        discovery: Discovery = Discovery(),
        routingTable: RoutingTable.Configuration = RoutingTable.Configuration(),
        frameSizeMax: Int = WireLimits.frameSizeMaxDefault
    ) {
        self.networkVersion = networkVersion
        self.peerListener = peerListener
        self.lookupListener = lookupListener
        self.refreshListener = refreshListener
        self.externalAddress = externalAddress
        self.bootstrapPeers = bootstrapPeers
        self.dialPeers = dialPeers
        self.protocols = protocols
        self.slots = slots
        self.peers = peers
        self.discovery = discovery
        self.routingTable = routingTable
        self.frameSizeMax = frameSizeMax
    }

    /// Every protocol offered in the handshake: PING (mandatory, version 0.1.0) first, then
    /// `protocols` in order (a user protocol named PING replaces nothing: it is ignored).
    public var runningProtocols: [ProtocolSpec] {
        [ProtocolSpec.ping] + protocols.filter { $0.id != ProtocolID.ping }
    }

    /// A protocol a node runs on peer connections.
    public struct ProtocolSpec: Hashable, Sendable {
        /// The protocol's ID on the wire.
        public var id: ProtocolID
        /// Its version and the requirement on the remote's version (seed form `"0.2.0, >0.1.0"`).
        public var version: ProtocolVersion
        /// A mandatory protocol must be in the negotiated set, or the handshake is refused.
        public var isMandatory: Bool

        public init(id: ProtocolID, version: ProtocolVersion, isMandatory: Bool = false) {
            self.id = id
            self.version = version
            self.isMandatory = isMandatory
        }

        /// The core keep-alive protocol.
        public static let ping = ProtocolSpec(id: .ping, version: ProtocolVersion(Version(0, 1, 0)), isMandatory: true)
    }

    /// How many connections of each kind may be open at once.
    public struct Slots: Hashable, Sendable {
        /// Inbound peer connections (handshaking or established).
        public var inbound = 12
        /// Outbound peer connections (dialling, handshaking or established).
        public var outbound = 12
        /// Inbound lookup connections.
        public var lookupInbound = 20
        /// Outbound lookup connections.
        public var lookupOutbound = 20
        /// Inbound peer connections from one IPv4 /24 or IPv6 /64 (loopback exempt), an eclipse guard.
        public var inboundPerSubnet = 2
        public init() {}
    }

    /// Peer-connection timing and limits.
    public struct Peers: Hashable, Sendable {
        /// How long a handshake may take, either side.
        public var handshakeTimeout: Duration = .seconds(2)
        /// How long a TCP connect may take before it counts as failed.
        public var connectTimeout: Duration = .seconds(5)
        /// Dial attempts per endpoint before the dial fails.
        public var connectRetries = 3
        /// Backoff between dial attempts.
        public var connectBackoffBase: Duration = .milliseconds(500)
        public var connectBackoffMax: Duration = .seconds(2)
        /// Backoff cap for redialling a dropped manual (`dialPeers`) peer.
        public var redialBackoffMax: Duration = .seconds(60)
        /// Keep-alive (core PING protocol): how long a peer we dialled may stay quiet before we ping
        /// it. A peer that dialled us may stay quiet `pingInterval + pingTimeout`, so between two
        /// Karyons nodes only the dialler pings, and a peer that pings us, or sends anything else,
        /// is not pinged.
        public var pingInterval: Duration = .seconds(20)
        /// How long to wait for a pong.
        public var pingTimeout: Duration = .seconds(2)
        /// Consecutive missed pongs before the peer is dropped.
        public var pingMissesMax = 3
        /// Bytes queued for one connection before it counts as stalled (the peer does not read).
        public var sendQueueBytesMax = 4 * 1024 * 1024
        /// How long a connection may stay stalled before it is closed.
        public var sendStallTimeout: Duration = .seconds(30)
        /// Inbound protocol messages buffered for one peer before reading from it pauses.
        public var receiveQueueMessagesMax = 128
        public init() {}
    }

    /// DHT timing and limits.
    public struct Discovery: Hashable, Sendable {
        /// Random-target lookups through a seed before the self-lookups.
        public var randomLookups = 2
        /// Peers asked at once in each self-lookup round after the first, which asks every peer the
        /// random-target lookups returned (Kademlia's alpha).
        public var selfLookupParallelism = 3
        /// Self-lookup rounds in one seeding session at most (the last round included): each asks
        /// peers closer to us than the closest that has answered, until a round brings none closer.
        public var selfLookupRoundsMax = 8
        /// When a self-lookup round brings no closer peer, one last round asks every peer not yet
        /// asked among this many nearest the session knows (Kademlia's k, a bucket's size).
        public var selfLookupFinalPeersMax = 20
        /// Lookup exchanges (random-target and self-lookups) one seeding session starts at most.
        public var sessionExchangesMax = 64
        /// How long to wait for each lookup response (Pong, Peers).
        public var lookupResponseTimeout: Duration = .seconds(1)
        /// The longest an inbound lookup connection may stay open.
        public var lookupConnectionLifespan: Duration = .seconds(3)
        /// Dial attempts for a lookup connection.
        public var lookupConnectRetries = 3
        /// How long a lookup TCP connect may take.
        public var lookupConnectTimeout: Duration = .seconds(2)
        /// Peers returned in a Peers reply (and the most accepted in one).
        public var peersPerReplyMax = WireLimits.peersCountMax
        /// Period of the routing-table refresh round.
        public var refreshInterval: Duration = .seconds(1800)
        /// How long to wait for a UDP pong.
        public var refreshResponseTimeout: Duration = .seconds(1)
        /// Ping attempts per entry per round.
        public var refreshRetries = 3
        /// Backoff between refresh attempts.
        public var refreshBackoffBase: Duration = .milliseconds(100)
        public var refreshBackoffMax: Duration = .seconds(5)
        /// Failed refreshes after which an entry is evicted.
        public var refreshFailuresMax = 3
        /// UDP pings sent per second at most to verify newly learned entries (between rounds).
        public var verifyPingsPerSecond: Double = 10
        /// Incoming refresh pings: burst and sustained rate per source IP, and sources tracked.
        public var refreshRateBurst: Double = 5
        public var refreshRatePerSecond: Double = 0.5
        public var refreshRateSourcesMax = 4096
        /// Cap of the seeding backoff (the original's `seeding_interval`); it starts at `seedingBackoffBase`.
        public var seedingInterval: Duration = .seconds(60)
        public var seedingBackoffBase: Duration = .milliseconds(500)
        /// How long a table entry whose dial the remote refused for lack of a slot is not dialled
        /// again (±50% jitter).
        public var dialRefusedCoolDown: Duration = .seconds(180)
        /// How long such an entry stays marked failed when the refusal came in a full bucket (so
        /// that a newly learned node may take its place meanwhile); then it is verified again, as
        /// the node that answered is, while its cool-down goes on. At most `dialRefusedCoolDown`.
        public var dialRefusalMarkDuration: Duration = .seconds(30)
        /// Pacing of new table dials after failed ones: the gap starts at the base, doubles with each
        /// consecutive failure up to the max (±50% jitter), and ends with the next dial that connects.
        /// A zero max turns pacing off.
        public var dialPacingBase: Duration = .milliseconds(250)
        public var dialPacingMax: Duration = .seconds(4)
        public init() {}
    }
}

extension NodeConfiguration {
    /// True when the node opens its refresh listener on the host and port its lookup listener got
    /// (no `refreshListener` configured): the one rule the core and a driver that binds the pair
    /// together both follow.
    public var refreshFollowsLookupListener: Bool { refreshListener == nil }
}
