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
    /// Runs the timers due at `now`.
    mutating func handleTimeout(now: Instant)
    /// The next effect to carry out, or nil.
    mutating func poll() -> NodeOutput?
    /// When the node next wants `handleTimeout(now:)`.
    var nextDeadline: Instant? { mutating get }
    /// Lends the bytes waiting for `id` to `body`, then empties the outbox; nil for an unknown connection.
    mutating func withOutgoing<Result>(_ id: ConnectionID, _ body: (UnsafeRawBufferPointer) -> Result) -> Result?
    /// Safety problems (empty when all is well); checked after every event the node handles.
    func invariantViolations() -> [String]
    /// Feeds everything that identifies the node's state into `hasher`, in a stable order (never a
    /// Dictionary's iteration order, which differs between processes).
    func digest(into hasher: inout StableHasher)
}

extension NodeCore: SimulatedNode {
    /// The core's own invariants plus the slot limits seen from outside: no more peers and
    /// connections per direction and plane than the configuration allows.
    public func invariantViolations() -> [String] {
        var problems = checkInvariants()
        let slots = configuration.slots
        var inbound = 0
        var outbound = 0
        for peer in peers {
            switch peer.direction {
            case .inbound: inbound += 1
            case .outbound: outbound += 1
            }
        }
        if inbound > slots.inbound { problems.append("\(inbound) inbound peers exceed the \(slots.inbound) inbound slots") }
        if outbound > slots.outbound {
            problems.append("\(outbound) outbound peers exceed the \(slots.outbound) outbound slots")
        }
        let peerConnections = connectionCount(.peer)
        if peerConnections > slots.inbound + slots.outbound {
            problems.append("\(peerConnections) peer connections exceed the \(slots.inbound + slots.outbound) peer slots")
        }
        let lookupConnections = connectionCount(.lookup)
        if lookupConnections > slots.lookupInbound + slots.lookupOutbound {
            problems.append(
                "\(lookupConnections) lookup connections exceed the \(slots.lookupInbound + slots.lookupOutbound) lookup slots")
        }
        return problems
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
        for kind in MessageKind.allCases { combine(statistics.framesSent[kind] ?? 0) }
        combine(statistics.bytesSent)
        combine(statistics.datagramsSent)
        combine(statistics.datagramsDropped)
        combine(statistics.protocolViolations)
        combine(statistics.staleEvents)
    }
}
