/// One peer-plane connection as the peer half sees it, from the dial (or accept) until it is closed.
///
/// The stage's machine is a stored Optional beside a payload-free `stage`, not an enum payload:
/// mutating a machine then happens in place (`&link.peer!`), where binding an enum payload copies
/// the whole machine and retains everything it holds. What the hot paths and the invariant checks
/// read of a link, its `Facts`, is computed in place after every change (`currentFacts()`) and kept
/// by `PeerLinks` in a dense array beside the links. `startHandshake`, `establish`, `mutatePeer` and
/// `mutateHandshake` are the only ways to change a machine, and `PeerLinks` hands out a link only
/// through `modify`, so the stage, the machines and the kept facts always agree.
struct PeerLink {
    /// Where the connection is in its life.
    enum Stage {
        /// Outbound: the TCP connect is in flight.
        case connecting
        /// The handshake is running (`handshake` is set).
        case handshaking
        /// The peer is in the pool (`peer` is set).
        case established
    }

    /// What the hot paths and the invariant checks read of a link, as plain values.
    struct Facts {
        let id: ConnectionID
        let direction: Direction
        let stage: Stage
        /// Handshaking: the machine's deadline; established: the peer machine's next deadline.
        let deadline: Instant?
        /// Handshaking: the listener waits for the dialler's confirmation (it is a pool member already).
        let isAwaitingConfirmation: Bool
        /// Established: the peer.
        let peerID: PeerID?
        /// The machine set matches the stage (exactly the stage's machine, or none while connecting).
        let isMachineConsistent: Bool
    }

    let id: ConnectionID
    let direction: Direction
    /// The remote end: the endpoint dialled (outbound) or observed by our listener (inbound).
    let remote: Endpoint
    /// Outbound: the ID discovery expects at `remote` (nil for a manual dial).
    let expected: PeerID?
    private(set) var stage: Stage
    /// The handshake machine, while handshaking, boxed: links are stored by connection slot, most
    /// of them established, and an inline handshake machine would double every link's size for the
    /// few seconds a handshake lasts. Copy-on-write keeps value semantics.
    private var handshakeBox: HandshakeBox?
    /// The established peer's machine (inline: it is the per-message state).
    private(set) var peer: PeerMachine?

    /// The handshake machine, while handshaking (a copy).
    var handshake: HandshakeMachine? { handshakeBox?.machine }

    /// A link that starts connecting (outbound) or, given a machine, handshaking (inbound).
    init(id: ConnectionID, direction: Direction, remote: Endpoint, expected: PeerID?, handshake: HandshakeMachine? = nil) {
        self.id = id
        self.direction = direction
        self.remote = remote
        self.expected = expected
        handshakeBox = handshake.map(HandshakeBox.init)
        stage = handshake == nil ? .connecting : .handshaking
    }

    /// The endpoint we dialled (nil for inbound connections), as discovery knows it.
    var dialled: Endpoint? { direction == .outbound ? remote : nil }

    /// Connecting → handshaking.
    mutating func startHandshake(_ machine: HandshakeMachine) {
        precondition(stage == .connecting, "BUG in Karyons: link \(id) starts a handshake in stage \(stage)")
        handshakeBox = HandshakeBox(machine)
        stage = .handshaking
    }

    /// Handshaking → established.
    mutating func establish(_ machine: PeerMachine) {
        precondition(stage == .handshaking, "BUG in Karyons: link \(id) is established in stage \(stage)")
        handshakeBox = nil
        peer = machine
        stage = .established
    }

    /// Runs `body` on the established peer's machine in place; nil if the link is not established.
    mutating func mutatePeer<Result>(_ body: (inout PeerMachine) -> Result) -> Result? {
        stage == .established ? body(&peer!) : nil
    }

    /// Runs `body` on the handshake machine in place; nil if the link is not handshaking.
    mutating func mutateHandshake<Result>(_ body: (inout HandshakeMachine) -> Result) -> Result? {
        guard stage == .handshaking, let box = handshakeBox else { return nil }
        if !isKnownUniquelyReferenced(&handshakeBox) { handshakeBox = HandshakeBox(box.machine) }
        return body(&handshakeBox!.machine)
    }

    /// The facts as they are now. Mutating only so that the machines are read in place through
    /// `inout` (reading them through their Optionals would copy them); changes nothing.
    mutating func currentFacts() -> Facts {
        let hasHandshake = handshakeBox != nil
        let hasPeer = peer != nil
        switch stage {
        case .connecting:
            return facts(deadline: nil, consistent: !hasHandshake && !hasPeer)
        case .handshaking:
            return facts(
                deadline: handshakeBox?.machine.deadline, consistent: hasHandshake && !hasPeer,
                awaitingConfirmation: handshakeBox?.machine.isAwaitingConfirmation ?? false)
        case .established:
            return facts(
                deadline: hasPeer ? Self.deadline(of: &peer!) : nil, consistent: !hasHandshake && hasPeer,
                peerID: hasPeer ? Self.peerID(of: &peer!) : nil)
        }
    }

    private func facts(deadline: Instant?, consistent: Bool, awaitingConfirmation: Bool = false, peerID: PeerID? = nil) -> Facts {
        Facts(
            id: id, direction: direction, stage: stage, deadline: deadline, isAwaitingConfirmation: awaitingConfirmation,
            peerID: peerID, isMachineConsistent: consistent)
    }

    // Readers of a machine held `inout`: in place, where reading through the Optional would copy it.
    private static func deadline(of machine: inout PeerMachine) -> Instant? { machine.nextDeadline }
    private static func peerID(of machine: inout PeerMachine) -> PeerID { machine.peerID }
}

/// The box of a link's handshake machine.
private final class HandshakeBox {
    var machine: HandshakeMachine
    init(_ machine: HandshakeMachine) { self.machine = machine }
}

/// The peer half's connections, indexed by connection slot (dense, so lookups are array accesses and
/// iteration runs in slot order, which keeps simulated runs deterministic). A stale `ConnectionID`
/// (older generation) finds nothing.
struct PeerLinks {
    private var links: [PeerLink?] = []
    /// The facts of each slot's link (nil: free), kept beside the links after every change: the
    /// per-message paths and the invariant checks read this dense array of plain values, where a
    /// link is hundreds of bytes and reaching into one per slot costs a cache miss each.
    private var summaries: [PeerLink.Facts?] = []
    /// The number of links.
    private(set) var count = 0

    /// True if `id`'s link is alive.
    func contains(_ id: ConnectionID) -> Bool {
        let slot = Int(id.slot)
        return slot < summaries.count && summaries[slot]?.id == id
    }

    /// The link of `id`, if it is alive (a copy: prefer `withLink` on hot paths).
    subscript(id: ConnectionID) -> PeerLink? {
        contains(id) ? links[Int(id.slot)] : nil
    }

    /// Adds a link for a new connection.
    mutating func insert(_ link: PeerLink) {
        let slot = Int(link.id.slot)
        if slot >= links.count {
            links.append(contentsOf: repeatElement(nil, count: slot + 1 - links.count))
            summaries.append(contentsOf: repeatElement(nil, count: slot + 1 - summaries.count))
        }
        precondition(summaries[slot] == nil, "BUG in Karyons: connection slot \(slot) already has a peer link")
        var link = link
        summaries[slot] = link.currentFacts()
        links[slot] = link
        count += 1
    }

    /// Removes and returns the link of `id`.
    @discardableResult
    mutating func remove(_ id: ConnectionID) -> PeerLink? {
        guard contains(id) else { return nil }
        let slot = Int(id.slot)
        summaries[slot] = nil
        count -= 1
        return links[slot].take()
    }

    /// Mutates the link of `id` in place; nil if it is gone.
    mutating func modify<Result>(_ id: ConnectionID, _ body: (inout PeerLink) -> Result) -> Result? {
        guard contains(id) else { return nil }
        let slot = Int(id.slot)
        let (result, facts) = Self.mutate(&links[slot]!, body)
        summaries[slot] = facts
        return result
    }

    /// Runs `body` on `link`, then reads its facts (in place, through `inout`).
    private static func mutate<Result>(_ link: inout PeerLink, _ body: (inout PeerLink) -> Result) -> (Result, PeerLink.Facts) {
        let result = body(&link)
        return (result, link.currentFacts())
    }

    /// Runs `body` on the established peer's machine of `id` in place; nil if `id` is not established.
    mutating func modifyPeer<Result>(_ id: ConnectionID, _ body: (inout PeerMachine) -> Result) -> Result? {
        modify(id) { $0.mutatePeer(body) } ?? nil
    }

    /// Runs `body` on the handshake machine of `id` in place; nil if `id` is not handshaking.
    mutating func modifyHandshake<Result>(_ id: ConnectionID, _ body: (inout HandshakeMachine) -> Result) -> Result? {
        modify(id) { $0.mutateHandshake(body) } ?? nil
    }

    /// The facts of `id`'s link, read in place; nil if it is not alive. For the per-message paths.
    func facts(of id: ConnectionID) -> PeerLink.Facts? {
        guard contains(id) else { return nil }
        return summaries[Int(id.slot)]
    }

    /// The stage of `id`'s link; nil if it is not alive.
    func stage(of id: ConnectionID) -> PeerLink.Stage? { facts(of: id)?.stage }

    /// The peer established on `id`; nil if `id` is not an established link.
    func peerID(on id: ConnectionID) -> PeerID? { facts(of: id)?.peerID }

    /// The IDs of every link, in slot order.
    var ids: [ConnectionID] { summaries.compactMap { $0?.id } }

    /// Calls `body` with the facts of every link, in slot order (read in place: no link is copied).
    func forEachFacts(_ body: (PeerLink.Facts) -> Void) {
        var remaining = count
        for slot in summaries.indices where remaining > 0 {
            guard let facts = summaries[slot] else { continue }
            remaining -= 1
            body(facts)
        }
    }

    /// Calls `body` with the ID and direction of every established peer, in slot order, in place.
    func forEachEstablished(_ body: (PeerID, Direction) -> Void) {
        forEachFacts { link in
            if link.stage == .established, let peer = link.peerID { body(peer, link.direction) }
        }
    }

    /// Calls `body` with a copy of every link, in slot order (off the hot paths: it copies each link).
    func forEach(_ body: (PeerLink) -> Void) {
        for slot in summaries.indices where summaries[slot] != nil { if let link = links[slot] { body(link) } }
    }
}
