import KaryonsCore

/// What the virtual network needs from a node: the NodeCore driving contract (DESIGN.md, "The
/// driving contract"), a safety check and a digest of its state.
///
/// `NodeCore` conforms; the network's own tests use small fake nodes that speak the same inputs and
/// outputs. The network calls the methods in contract order: one input (`handle`, `accept`,
/// `receive` or `handleTimeout`), then `poll()` until nil (executing each output, taking bytes with
/// `withOutgoing` for `.transmit`), then `nextDeadline`; `now` never goes backwards.
public protocol SimulatedNode {
    /// Feeds one event.
    mutating func handle(_ input: NodeInput, now: Instant)
    /// Takes on a connection accepted by one of the node's TCP listeners and names it.
    mutating func accept(_ listener: ListenerKind, from remote: Endpoint, now: Instant) -> ConnectionID
    /// Bytes read from a connection; the buffer is only valid during the call.
    mutating func receive(_ bytes: UnsafeRawBufferPointer, on id: ConnectionID, now: Instant)
    /// A datagram read from the node's UDP socket; the buffer is only valid during the call.
    mutating func receiveDatagram(_ bytes: UnsafeRawBufferPointer, from source: Endpoint, now: Instant)
    /// Runs the timers due at `now`.
    mutating func handleTimeout(now: Instant)
    /// The next effect to carry out, or nil.
    mutating func poll() -> NodeOutput?
    /// When the node next wants `handleTimeout(now:)`.
    var nextDeadline: Instant? { mutating get }
    /// Lends the bytes waiting for `id` to `body`, then empties the outbox; nil for an unknown connection.
    mutating func withOutgoing<Result>(_ id: ConnectionID, _ body: (UnsafeRawBufferPointer) -> Result) -> Result?
    /// Appends the bytes waiting for `id` to `buffer`, then empties the outbox; returns how many
    /// (nil for an unknown connection). Has a default built on `withOutgoing`.
    mutating func moveOutgoing(_ id: ConnectionID, appendingTo buffer: inout [UInt8]) -> Int?
    /// Safety problems (empty when all is well); checked after every event the node handles.
    /// Mutating so that a node checks itself in place (no copy of its state per event) and may
    /// remember what it already found sound; it must not change its behaviour.
    mutating func invariantViolations() -> [String]
    /// The node's slot limits, which the network checks against its own count of the node's
    /// connections after every event (nil: no limits). Read once when the node boots.
    var connectionLimits: ConnectionLimits? { get }
    /// Feeds everything that identifies the node's state into `hasher`, in a stable order (never a
    /// Dictionary's iteration order, which differs between processes).
    func digest(into hasher: inout StableHasher)
}

extension SimulatedNode {
    public mutating func moveOutgoing(_ id: ConnectionID, appendingTo buffer: inout [UInt8]) -> Int? {
        withOutgoing(id) { bytes -> Int in
            buffer.append(contentsOf: bytes)
            return bytes.count
        }
    }
}

/// How many connections of each plane and direction a node may have open (connecting or
/// established) at once; the network counts them itself and reports more as a violation.
public struct ConnectionLimits: Hashable, Sendable {
    public var lookupInbound: Int
    public var lookupOutbound: Int
    public var peerInbound: Int
    public var peerOutbound: Int

    public init(lookupInbound: Int, lookupOutbound: Int, peerInbound: Int, peerOutbound: Int) {
        self.lookupInbound = lookupInbound
        self.lookupOutbound = lookupOutbound
        self.peerInbound = peerInbound
        self.peerOutbound = peerOutbound
    }

    /// The limit of one kind.
    public func limit(_ plane: Plane, _ direction: Direction) -> Int {
        switch (plane, direction) {
        case (.lookup, .inbound): return lookupInbound
        case (.lookup, .outbound): return lookupOutbound
        case (.peer, .inbound): return peerInbound
        case (.peer, .outbound): return peerOutbound
        }
    }
}

extension NodeCore: SimulatedNode {
    /// The core's own invariants (`checkInvariantsInPlace()`); slot limits are checked by the
    /// network against `connectionLimits`.
    public mutating func invariantViolations() -> [String] { checkInvariantsInPlace() }

    /// The configured slots.
    public var connectionLimits: ConnectionLimits? {
        let slots = configuration.slots
        return ConnectionLimits(
            lookupInbound: slots.lookupInbound, lookupOutbound: slots.lookupOutbound, peerInbound: slots.inbound,
            peerOutbound: slots.outbound)
    }

    /// The identity, the routing table (entries by ID with status and failures), the peers (by ID,
    /// with direction and endpoint) and the statistics (frames by kind in `MessageKind` order).
    public func digest(into hasher: inout StableHasher) {
        hasher.combine(id)
        let entries = routingTable.entries(matching: .all).sorted { $0.id < $1.id }
        hasher.combine(entries.count)
        for entry in entries {
            hasher.combine(entry.id)
            hasher.combine(entry.record.address)
            hasher.combine(UInt64(entry.record.port) << 16 | UInt64(entry.record.discoveryPort))
            hasher.combine(UInt64(entry.status.rawValue))
            hasher.combine(entry.failureCount)
            hasher.combine(entry.lastSeen)
        }
        let peers = self.peers.sorted { $0.id < $1.id }
        hasher.combine(peers.count)
        for peer in peers {
            hasher.combine(peer.id)
            hasher.combine(peer.direction == .inbound ? 1 : 2)
            hasher.combine(peer.endpoint)
            hasher.combine(peer.protocols.count)
        }
        hasher.combine(statistics)
    }
}

extension StableHasher {
    /// Feeds a node's counters, frames in `MessageKind.allCases` order.
    public mutating func combine(_ statistics: NodeStatistics) {
        for kind in MessageKind.allCases { combine(statistics.framesSent(kind)) }
        combine(statistics.bytesSent)
        combine(statistics.datagramsSent)
        combine(statistics.datagramsDropped)
        combine(statistics.protocolViolations)
        combine(statistics.staleEvents)
    }
}
