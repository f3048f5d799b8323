/// The services both halves of a node (discovery and peers) use while they handle one input:
/// the clock reading, the RNG, the output queue, the connection table with its framing and outboxes,
/// the deadlines, and the signals one half leaves for the other.
///
/// Owned by `NodeCore` and lent `inout` to `DiscoveryCore` and `PeerCore` for the duration of one
/// call, so neither half can do I/O or read a clock: everything it wants done goes through here.
struct CoreContext {
    /// This node's identity.
    let localID: PeerID
    /// This node's configuration.
    let configuration: NodeConfiguration
    /// The time of the input being handled.
    var now: Instant
    /// The node's only source of randomness.
    var rng: SplitMix64
    /// Open connections and their transport state.
    var connections = SummarizedSlotTable<Connection>()
    /// One deadline per timer key; the node's `nextDeadline` is the earliest.
    var deadlines = DeadlineQueue<CoreTimer>()
    /// Messages between the halves (`signal`), drained by `NodeCore` after every call into a half
    /// (`takeSignals`).
    private(set) var signals: [CoreSignal] = []
    /// `!signals.isEmpty`, as a stored flag: NodeCore looks after every input, and almost always
    /// finds none, so the look must not touch the array's storage (a cache miss per event).
    private(set) var hasSignals = false
    /// Effects for the driver, drained by `NodeCore.poll()`.
    private var outputs: [NodeOutput] = []
    private var outputsHead = 0
    /// Counters for monitors and the simulator.
    var statistics = NodeStatistics()

    init(localID: PeerID, configuration: NodeConfiguration, seed: UInt64, now: Instant) {
        self.localID = localID
        self.configuration = configuration
        self.now = now
        self.rng = SplitMix64(seed: seed)
    }

    // MARK: Outputs

    mutating func emit(_ output: NodeOutput) { outputs.append(output) }

    mutating func emit(_ event: NodeEvent) { outputs.append(.event(event)) }

    /// The next output, oldest first.
    mutating func nextOutput() -> NodeOutput? {
        guard outputsHead < outputs.count else { return nil }
        let output = outputs[outputsHead]
        outputsHead += 1
        if outputsHead == outputs.count {
            outputs.removeAll(keepingCapacity: true)
            outputsHead = 0
        }
        return output
    }

    // MARK: Connections

    /// Starts an outbound connection and returns its ID; the driver answers `.connected` or `.connectFailed`.
    mutating func connect(_ plane: Plane, to endpoint: Endpoint, timeout: Duration) -> ConnectionID {
        let id = connections.insert(Connection(plane: plane, direction: .outbound, remote: endpoint,
                                               frameSizeMax: configuration.frameSizeMax, isEstablished: false))
        emit(.connect(id, plane, to: endpoint, timeout: timeout))
        return id
    }

    /// Registers a connection accepted by one of our listeners.
    mutating func adopt(_ plane: Plane, from endpoint: Endpoint) -> ConnectionID {
        connections.insert(Connection(plane: plane, direction: .inbound, remote: endpoint,
                                      frameSizeMax: configuration.frameSizeMax, isEstablished: true))
    }

    /// Encodes `message` as one frame into the connection's outbox.
    mutating func send(_ message: LookupMessage, on id: ConnectionID) {
        statistics.count(sent: message.kind, bytes: message.frameLength + WireLimits.lengthPrefixSize)
        appendToOutbox(id) { message.encodeFrame(into: &$0) }
    }

    /// Encodes `message` as one frame into the connection's outbox. Throws, queuing nothing, if the
    /// frame would exceed `frameSizeMax` or the message is not one the remote could decode.
    mutating func send(_ message: PeerMessage, on id: ConnectionID) throws(WireError) {
        let frameSizeMax = configuration.frameSizeMax
        var failure: WireError?
        appendToOutbox(id) { writer in
            do throws(WireError) {
                try message.encodeFrame(into: &writer, frameSizeMax: frameSizeMax)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        statistics.count(sent: message.kind, bytes: message.frameLength + WireLimits.lengthPrefixSize)
    }

    /// Leaves `signal` for the other half.
    mutating func signal(_ signal: CoreSignal) {
        signals.append(signal)
        hasSignals = true
    }

    /// The signals left since the last call, in order; none are left after it.
    mutating func takeSignals() -> [CoreSignal] {
        hasSignals = false
        defer { signals = [] }
        return signals
    }

    /// Encodes a Ping-protocol frame carrying `payload` into the connection's outbox (the same
    /// bytes as `send(.protocol(id: .ping, payload: encoded payload))`, without building them first).
    mutating func send(ping payload: PingPayload, on id: ConnectionID) {
        appendToOutbox(id) { payload.encodeFrame(into: &$0) }
        statistics.count(sent: .protocol, bytes: PingPayload.frameSize)
    }

    /// Closes a connection: sends `Shutdown(reason)` first when given, then forgets the connection
    /// (its ID is dead from here on) and cancels its deadline. The owning half must have dropped its
    /// own state for the connection, or do so right after.
    mutating func close(_ id: ConnectionID, sending reason: DisconnectReason?) {
        guard let connection = connections[id] else { return }
        if let reason, connection.isEstablished {
            switch connection.plane {
            case .lookup: send(LookupMessage.shutdown(reason), on: id)
            case .peer: try? send(PeerMessage.shutdown(reason), on: id)  // A Shutdown frame always encodes.
            }
        }
        deadlines.cancel(.connection(id))
        emit(.close(id))
        if connection.isEstablished { emit(.disconnected(connection.plane, connection.remote)) }
        // Bytes still in the outbox stay until the driver takes them; the slot is freed then.
        connections.modify(id) { $0.isClosing = true }
        // `connection` is the copy from before the Shutdown was queued: look at the live outbox.
        if connections[id]?.outbox.count == 0 { connections.remove(id) }
    }

    /// Sets (or moves) the deadline at which the connection's owner wants `connectionTimeout`.
    mutating func schedule(_ id: ConnectionID, at deadline: Instant?) {
        if let deadline { deadlines.schedule(.connection(id), at: deadline) } else { deadlines.cancel(.connection(id)) }
    }

    /// Asks the driver to stop or resume reading from a connection.
    mutating func pauseReading(_ id: ConnectionID, _ paused: Bool) {
        guard connections.modify(id, { connection -> Bool in
            guard connection.isReadingPaused != paused else { return false }
            connection.isReadingPaused = paused
            return true
        }) == true else { return }
        emit(.pauseReading(id, paused: paused))
    }

    // MARK: Datagrams

    mutating func sendDatagram(_ datagram: RefreshDatagram, to endpoint: Endpoint) {
        statistics.datagramsSent += 1
        emit(.sendDatagram(datagram, to: endpoint))
    }

    private mutating func appendToOutbox(_ id: ConnectionID, _ encode: (inout ByteWriter) -> Void) {
        let becameNonEmpty = connections.modify(id) { connection -> Bool in
            guard !connection.isClosing else { return false }
            let wasEmpty = connection.outbox.count == 0
            encode(&connection.outbox)
            return wasEmpty && connection.outbox.count > 0 && connection.isEstablished
        }
        if becameNonEmpty == true { emit(.transmit(id)) }
    }
}

/// One TCP connection's transport state inside the core: framing in, outbox out.
struct Connection: Summarized {
    let plane: Plane
    let direction: Direction
    /// The remote end (for inbound connections, as observed by our listener).
    let remote: Endpoint
    /// Reassembles frames from whatever chunks the socket yields.
    var decoder: FrameDecoder
    /// Encoded frames not yet taken by the driver.
    var outbox = ByteWriter()
    /// False while an outbound connect is in flight.
    var isEstablished: Bool
    /// True once the core closed it and only waits for the driver to take the last bytes.
    var isClosing = false
    var isReadingPaused = false
    /// True while the driver reports its send queue above the high watermark.
    var isSendQueueHigh = false

    /// What the per-message paths and the invariant checks read of a connection, as plain values
    /// (the table keeps them beside the connections: `connections.summary(of: id)`).
    struct Facts {
        let plane: Plane
        let direction: Direction
        let isEstablished: Bool
        let isClosing: Bool
        let isReadingPaused: Bool
        let isSendQueueHigh: Bool
        /// The decoder holds part of a frame, or its framing failed: received bytes must go
        /// through it.
        let hasBufferedInput: Bool
        /// Bytes in the outbox.
        let outboxBytes: Int
    }

    var summary: Facts {
        Facts(
            plane: plane, direction: direction, isEstablished: isEstablished, isClosing: isClosing,
            isReadingPaused: isReadingPaused, isSendQueueHigh: isSendQueueHigh,
            hasBufferedInput: decoder.holdsInput, outboxBytes: outbox.count)
    }

    init(plane: Plane, direction: Direction, remote: Endpoint, frameSizeMax: Int, isEstablished: Bool) {
        self.plane = plane
        self.direction = direction
        self.remote = remote
        self.decoder = FrameDecoder(frameSizeMax: frameSizeMax)
        self.isEstablished = isEstablished
    }
}

/// A key in the node's deadline queue.
enum CoreTimer: Hashable {
    /// The owner of a connection wants `connectionTimeout` (lookup timeouts, handshake, keep-alive).
    case connection(ConnectionID)
    /// A discovery timer (refresh round, seeding backoff, verification pings, dial retries).
    case discovery(DiscoveryTimer)
    /// A peer-pool timer.
    case peers(PeerTimer)
}

extension CoreTimer: DenselyIndexed {
    /// Every timer has its own place in the deadline queue's array (no hashing on the hot path):
    /// discovery's three fixed timers first, then connections and exchanges interleaved by slot.
    var denseIndex: Int? {
        switch self {
        case .discovery(.seeding): return 0
        case .discovery(.refresh): return 1
        case .discovery(.dialer): return 2
        case .connection(let id): return 3 + 2 * Int(id.slot)
        case .discovery(.exchange(let handle)): return 4 + 2 * Int(handle.slot)
        }
    }
}

/// Messages from one half of the node to the other, routed by `NodeCore`.
enum CoreSignal: Hashable {
    /// Discovery → peers: dial this data endpoint; `expected` is the ID the routing table holds for it
    /// (nil for a manual peer). Answered by `.dialFailed` or `.peerAdded`.
    case dial(Endpoint, expected: PeerID?)
    /// Peers → discovery: a dial did not produce a peer, and why.
    case dialFailed(Endpoint, expected: PeerID?, reason: DialFailure)
    /// Peers → discovery: a peer joined the pool. For an outbound peer, `dialled` is the endpoint dialled.
    case peerAdded(PeerInfo, dialled: Endpoint?)
    /// Peers → discovery: a peer left the pool.
    case peerRemoved(PeerInfo, dialled: Endpoint?)
}

/// Why a `.dial` produced no peer (`CoreSignal.dialFailed`). The dialer retries only the failures
/// that may be the entry's fault and may pass (`isRetryable`); a duplicate or a dial of ourselves is
/// nobody's fault and is not retried, and a node with another ID than the entry's condemns the entry.
enum DialFailure: Hashable, CustomStringConvertible {
    /// The TCP connect failed, or the connection closed before the handshake began.
    case connectFailed(ConnectFailure)
    /// The handshake ended without a peer, with this reason, given by us or by the remote (a version
    /// or protocol mismatch, a timeout, a malformed frame, the remote's lack of a slot, a connection
    /// lost mid-handshake as `.none`).
    case handshakeFailed(DisconnectReason, byRemote: Bool)
    /// One side already holds a connection to this peer (found before dialling, or by either side's
    /// duplicate check during the handshake).
    case duplicatePeer
    /// The endpoint leads back to this node (or the expected ID is our own).
    case selfConnection
    /// The pool had no free outbound slot (the dialer and the pool disagree: never expected).
    case noFreeSlot
    /// The node reached claims another ID than the table entry that was dialled.
    case unexpectedPeer(PeerID)

    /// The failure of a handshake as the dialer sees it.
    init(_ failure: HandshakeFailure) {
        switch failure {
        case .selfConnection, .refusedByRemote(.selfConnection): self = .selfConnection
        case .duplicatePeer, .refusedByRemote(.duplicatePeer): self = .duplicatePeer
        case .unexpectedPeer(_, let actual): self = .unexpectedPeer(actual)
        case .incompatibleVersion, .mandatoryProtocolMissing, .unexpectedMessage, .unofferedProtocol,
            .malformed, .unencodable, .timeout, .refusedByRemote, .connectionLost:
            self = .handshakeFailed(failure.reason, byRemote: failure.isByRemote)
        }
    }

    /// True when trying the same endpoint again later may succeed (the remote was down, slow, full).
    var isRetryable: Bool {
        switch self {
        case .connectFailed, .handshakeFailed, .noFreeSlot: return true
        case .duplicatePeer, .selfConnection, .unexpectedPeer: return false
        }
    }

    /// The counter this failure is tallied under in `NodeStatistics`.
    var kind: DialFailureKind {
        switch self {
        case .connectFailed(.refused): return .connectRefused
        case .connectFailed(.timedOut): return .connectTimedOut
        case .connectFailed(.failed): return .connectFailed
        case .handshakeFailed(.noFreeSlot, byRemote: true): return .remoteFull
        case .handshakeFailed: return .handshakeFailed
        case .duplicatePeer: return .duplicatePeer
        case .selfConnection: return .selfConnection
        case .noFreeSlot: return .localNoFreeSlot
        case .unexpectedPeer: return .unexpectedPeer
        }
    }

    var description: String {
        switch self {
        case .connectFailed(let failure): return "connect failed: \(failure)"
        case .handshakeFailed(let reason, let byRemote): return "handshake failed (\(reason)\(byRemote ? ", by the remote" : ""))"
        case .duplicatePeer: return "duplicate peer"
        case .selfConnection: return "self connection"
        case .noFreeSlot: return "no free outbound slot"
        case .unexpectedPeer(let actual): return "reached another peer (\(actual.shortDescription))"
        }
    }
}

/// Why a dial of the peer plane produced no peer, as tallied in `NodeStatistics.dialFailures(_:)`.
public enum DialFailureKind: Int, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// The remote refused the TCP connect (nothing listening).
    case connectRefused
    /// The TCP connect got no answer in time.
    case connectTimedOut
    /// The TCP connect failed otherwise, or the connection closed before the handshake began.
    case connectFailed
    /// The remote refused us with Shutdown(noFreeSlot): its inbound slots or its per-subnet cap are full.
    case remoteFull
    /// The handshake failed for any other reason, on either side.
    case handshakeFailed
    /// One side already holds a connection to this peer (before dialling, or found in the handshake).
    case duplicatePeer
    /// The endpoint led back to this node.
    case selfConnection
    /// Our own pool had no free outbound slot.
    case localNoFreeSlot
    /// The node reached claims another ID than the table entry dialled.
    case unexpectedPeer

    /// The case's name (`connectRefused`), for machine-readable reports.
    public var name: String {
        switch self {
        case .connectRefused: return "connectRefused"
        case .connectTimedOut: return "connectTimedOut"
        case .connectFailed: return "connectFailed"
        case .remoteFull: return "remoteFull"
        case .handshakeFailed: return "handshakeFailed"
        case .duplicatePeer: return "duplicatePeer"
        case .selfConnection: return "selfConnection"
        case .localNoFreeSlot: return "localNoFreeSlot"
        case .unexpectedPeer: return "unexpectedPeer"
        }
    }

    public var description: String {
        switch self {
        case .connectRefused: return "connect refused"
        case .connectTimedOut: return "connect timed out"
        case .connectFailed: return "connect failed"
        case .remoteFull: return "remote full"
        case .handshakeFailed: return "handshake failed"
        case .duplicatePeer: return "duplicate peer"
        case .selfConnection: return "self connection"
        case .localNoFreeSlot: return "no local slot"
        case .unexpectedPeer: return "unexpected peer"
        }
    }
}

/// Counters a node keeps for monitors and for the simulator's metrics.
///
/// The per-kind counters are inline arrays, stored in the node itself: counting a frame sent is then
/// a store into memory the send path already touches, not a heap array to reach (a cache miss per
/// frame when many simulated nodes share the caches).
public struct NodeStatistics: Hashable, Sendable {
    /// The counters' sizes (a test holds them to `MessageKind`'s raw values and `DialFailureKind`'s cases).
    static let frameKindSlots = 19
    static let dialFailureKindSlots = 9
    /// Frames sent, indexed by the kind's raw value: counting a frame must not hash on the send path.
    private var frameCounts = Counters<19>()

    /// Frames sent of one kind.
    public func framesSent(_ kind: MessageKind) -> Int { frameCounts[Int(kind.rawValue)] }

    /// Frames sent, by message kind (kinds never sent are absent).
    public var framesSent: [MessageKind: Int] {
        var counts: [MessageKind: Int] = [:]
        for kind in MessageKind.allCases where framesSent(kind) > 0 { counts[kind] = framesSent(kind) }
        return counts
    }
    /// Frame bytes sent (length prefixes included).
    public private(set) var bytesSent = 0
    /// UDP datagrams sent.
    public internal(set) var datagramsSent = 0
    /// UDP datagrams dropped (malformed, unsolicited, rate-limited).
    public internal(set) var datagramsDropped = 0
    /// Connections closed because the remote sent something malformed or out of place.
    public internal(set) var protocolViolations = 0
    /// Events about connections that no longer exist (stale IDs), dropped.
    public internal(set) var staleEvents = 0
    /// Protocol messages the application asked to send that were dropped (see `NodeEvent.sendDropped`).
    public internal(set) var sendsDropped = 0
    /// Peer-plane dials discovery asked for (table entries and manual peers, retries included).
    public internal(set) var dialsStarted = 0
    /// Dials that produced an outbound peer.
    public internal(set) var dialsSucceeded = 0
    /// Dials that produced no peer, indexed by `DialFailureKind.rawValue`.
    private var dialFailureCounts = Counters<9>()
    /// Lookup sessions (seeding passes through one endpoint) that succeeded.
    public internal(set) var lookupsSucceeded = 0
    /// Hops of the lookup sessions that succeeded, summed: 1 for the random-target lookups through
    /// the seed, plus 1 for each further round of lookups through the peers they returned.
    public internal(set) var lookupHops = 0

    /// Dials that failed for this reason.
    public func dialFailures(_ kind: DialFailureKind) -> Int { dialFailureCounts[kind.rawValue] }

    mutating func count(dialFailure kind: DialFailureKind) { dialFailureCounts[kind.rawValue] += 1 }

    mutating func count(sent kind: MessageKind, bytes: Int) {
        frameCounts[Int(kind.rawValue)] += 1
        bytesSent += bytes
    }
}

/// `count` counters stored inline, `Hashable` over all of them (an `InlineArray` is not), so
/// `NodeStatistics` keeps its synthesized equality and hashing.
struct Counters<let count: Int>: Hashable, Sendable {
    private var values = InlineArray<count, Int>(repeating: 0)

    subscript(index: Int) -> Int {
        get { values[index] }
        set { values[index] = newValue }
    }

    static func == (a: Counters, b: Counters) -> Bool {
        a.values.indices.allSatisfy { a.values[$0] == b.values[$0] }
    }

    func hash(into hasher: inout Hasher) {
        for index in values.indices { hasher.combine(values[index]) }
    }
}
