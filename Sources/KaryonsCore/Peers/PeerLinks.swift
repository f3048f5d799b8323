/// One peer-plane connection as the peer half sees it, from the dial (or accept) until it is closed.
struct PeerLink {
    /// Where the connection is in its life.
    enum Stage {
        /// Outbound: the TCP connect is in flight.
        case connecting
        /// The handshake is running.
        case handshaking(HandshakeMachine)
        /// The peer is in the pool.
        case established(PeerMachine)
        /// Placeholder while a machine is taken out to be mutated (avoids copying its storage).
        case modifying
    }

    let id: ConnectionID
    let direction: Direction
    /// The remote end: the endpoint dialled (outbound) or observed by our listener (inbound).
    let remote: Endpoint
    /// Outbound: the ID discovery expects at `remote` (nil for a manual dial).
    let expected: PeerID?
    var stage: Stage

    /// The endpoint we dialled (nil for inbound connections), as discovery knows it.
    var dialled: Endpoint? { direction == .outbound ? remote : nil }

    /// What the invariant checks read of a link, as plain values (read in place, no copy of the machines).
    struct Facts {
        enum Stage { case connecting, handshaking, established, modifying }
        let id: ConnectionID
        let direction: Direction
        let stage: Stage
        /// Handshaking: the machine's deadline; established: the peer machine's next deadline.
        let deadline: Instant?
        /// Handshaking: the listener waits for the dialler's confirmation (it is a pool member already).
        let isAwaitingConfirmation: Bool
        /// Established: the peer.
        let peerID: PeerID?
    }

    var facts: Facts {
        switch stage {
        case .connecting:
            return Facts(id: id, direction: direction, stage: .connecting, deadline: nil, isAwaitingConfirmation: false, peerID: nil)
        case .handshaking(let machine):
            return Facts(
                id: id, direction: direction, stage: .handshaking, deadline: machine.deadline,
                isAwaitingConfirmation: machine.isAwaitingConfirmation, peerID: nil)
        case .established(let peer):
            return Facts(
                id: id, direction: direction, stage: .established, deadline: peer.nextDeadline,
                isAwaitingConfirmation: false, peerID: peer.peerID)
        case .modifying:
            return Facts(id: id, direction: direction, stage: .modifying, deadline: nil, isAwaitingConfirmation: false, peerID: nil)
        }
    }

    /// The established peer's machine, if any.
    var peer: PeerMachine? {
        if case .established(let machine) = stage { return machine }
        return nil
    }
}

/// The peer half's connections, indexed by connection slot (dense, so lookups are array accesses and
/// iteration runs in slot order, which keeps simulated runs deterministic). A stale `ConnectionID`
/// (older generation) finds nothing.
struct PeerLinks {
    private var links: [PeerLink?] = []
    /// The number of links.
    private(set) var count = 0

    /// The link of `id`, if it is alive.
    subscript(id: ConnectionID) -> PeerLink? {
        let slot = Int(id.slot)
        guard slot < links.count, let link = links[slot], link.id == id else { return nil }
        return link
    }

    /// Adds a link for a new connection.
    mutating func insert(_ link: PeerLink) {
        let slot = Int(link.id.slot)
        if slot >= links.count { links.append(contentsOf: repeatElement(nil, count: slot + 1 - links.count)) }
        precondition(links[slot] == nil, "BUG in Karyons: connection slot \(slot) already has a peer link")
        links[slot] = link
        count += 1
    }

    /// Removes and returns the link of `id`.
    @discardableResult
    mutating func remove(_ id: ConnectionID) -> PeerLink? {
        guard let link = self[id] else { return nil }
        links[Int(id.slot)] = nil
        count -= 1
        return link
    }

    /// Mutates the link of `id` in place; nil if it is gone.
    mutating func modify<Result>(_ id: ConnectionID, _ body: (inout PeerLink) -> Result) -> Result? {
        guard self[id] != nil else { return nil }
        return body(&links[Int(id.slot)]!)
    }

    /// Runs `body` on the established peer's machine of `id` in place; nil if `id` is not established.
    mutating func modifyPeer<Result>(_ id: ConnectionID, _ body: (inout PeerMachine) -> Result) -> Result? {
        modify(id) { link -> Result? in
            guard case .established(var machine) = link.stage else { return nil }
            link.stage = .modifying
            defer { link.stage = .established(machine) }
            return body(&machine)
        } ?? nil
    }

    /// Runs `body` on the handshake machine of `id` in place; nil if `id` is not handshaking.
    mutating func modifyHandshake<Result>(_ id: ConnectionID, _ body: (inout HandshakeMachine) -> Result) -> Result? {
        modify(id) { link -> Result? in
            guard case .handshaking(var machine) = link.stage else { return nil }
            link.stage = .modifying
            defer { link.stage = .handshaking(machine) }
            return body(&machine)
        } ?? nil
    }

    /// The IDs of every link, in slot order.
    var ids: [ConnectionID] { links.compactMap { $0?.id } }

    /// Calls `body` with the facts of every link, in slot order (read in place: no link is copied).
    func forEachFacts(_ body: (PeerLink.Facts) -> Void) {
        links.withUnsafeBufferPointer { buffer in
            for index in buffer.indices where buffer[index] != nil {
                // A live slot's payload sits at the start of its Optional (single-payload enum
                // layout): read it there, as `if case .some(let link)` would copy the link first.
                let slot = UnsafeRawPointer(buffer.baseAddress! + index)
                body(slot.assumingMemoryBound(to: PeerLink.self).pointee.facts)
            }
        }
    }

    /// Calls `body` for every link, in slot order.
    func forEach(_ body: (PeerLink) -> Void) {
        for link in links { if let link { body(link) } }
    }
}
