/// The connection slots and the membership of the peer pool: who holds a slot, which peers are in,
/// and which of two connections to one peer is kept.
///
/// Slots: at most `inbound` inbound and `outbound` outbound peer connections at once, counted from
/// accept (inbound) or from the dial (outbound: dials in flight hold a slot) until release; at most
/// `inboundPerSubnet` inbound connections from one IPv4 /24 or IPv6 /64 (loopback exempt, so local
/// runs are not limited), an eclipse guard (RELIABILITY.md 13, 37, 40).
///
/// Membership: `join` admits a peer whose handshake completed. A second connection to a peer that is
/// already in is a duplicate, except in a simultaneous open (one connection in each direction), where
/// both nodes keep the connection dialled by the smaller of the two IDs: each side computes the same
/// answer from the same two IDs, whatever order the handshakes finish in (RELIABILITY.md 18). If the
/// newer connection is the keeper, it replaces the older one, which the caller closes.
struct PeerPool {
    /// Slot limits (from `NodeConfiguration.Slots`).
    struct Limits: Hashable {
        var inbound: Int
        var outbound: Int
        var inboundPerSubnet: Int

        init(inbound: Int, outbound: Int, inboundPerSubnet: Int) {
            self.inbound = inbound
            self.outbound = outbound
            self.inboundPerSubnet = inboundPerSubnet
        }

        init(_ slots: NodeConfiguration.Slots) {
            self.init(inbound: slots.inbound, outbound: slots.outbound, inboundPerSubnet: slots.inboundPerSubnet)
        }
    }

    /// Why an inbound connection is refused.
    enum InboundRefusal: Hashable, CustomStringConvertible {
        /// Every inbound slot is taken.
        case noFreeSlot
        /// The remote's subnet already holds `inboundPerSubnet` inbound connections.
        case subnetFull

        var description: String {
            switch self {
            case .noFreeSlot: return "no free inbound slot"
            case .subnetFull: return "inbound subnet limit reached"
            }
        }
    }

    /// The verdict on a peer whose handshake completed.
    enum JoinDecision: Hashable {
        /// The peer is in, on this connection.
        case joined
        /// The peer is in on this connection, which the tie-break keeps; the peer's older connection
        /// (given) is out of the pool and must be closed (`duplicatePeer`).
        case joinedReplacing(ConnectionID)
        /// The peer is already in on the given connection, which is kept: refuse this one (`duplicatePeer`).
        case duplicate(of: ConnectionID)
    }

    private struct Slot: Hashable {
        let direction: Direction
        /// The inbound remote's diversity subnet (nil for outbound and loopback).
        let subnet: IPAddress.Subnet?
        /// The peer this connection carries once it joined.
        var peer: PeerID?
    }

    let limits: Limits
    let localID: PeerID
    private var slots: [ConnectionID: Slot] = [:]
    private var members: [PeerID: ConnectionID] = [:]
    private var inboundPerSubnet: [IPAddress.Subnet: Int] = [:]
    /// Inbound connections holding a slot.
    private(set) var inboundCount = 0
    /// Outbound connections (dialling, handshaking or established) holding a slot.
    private(set) var outboundCount = 0

    init(limits: Limits, localID: PeerID) {
        self.limits = limits
        self.localID = localID
    }

    /// The number of peers in the pool.
    var memberCount: Int { members.count }

    /// True if another dial may start.
    var hasFreeOutboundSlot: Bool { outboundCount < limits.outbound }

    /// The connection carrying `peer`, if it is in the pool.
    func connection(of peer: PeerID) -> ConnectionID? { members[peer] }

    /// The peer a connection carries, if it joined.
    func peer(on id: ConnectionID) -> PeerID? { slots[id]?.peer }

    /// True if the connection holds a slot.
    func holdsSlot(_ id: ConnectionID) -> Bool { slots[id] != nil }

    /// Takes an inbound slot for a connection accepted from `address`, or says why not.
    mutating func openInbound(_ id: ConnectionID, from address: IPAddress) -> InboundRefusal? {
        precondition(slots[id] == nil, "BUG in Karyons: connection \(id) already holds a peer slot")
        guard inboundCount < limits.inbound else { return .noFreeSlot }
        let subnet = address.isLoopback ? nil : address.diversitySubnet
        if let subnet {
            guard inboundPerSubnet[subnet, default: 0] < limits.inboundPerSubnet else { return .subnetFull }
            inboundPerSubnet[subnet, default: 0] += 1
        }
        inboundCount += 1
        slots[id] = Slot(direction: .inbound, subnet: subnet)
        return nil
    }

    /// Takes an outbound slot for a dial (check `hasFreeOutboundSlot` first).
    mutating func openOutbound(_ id: ConnectionID) {
        precondition(slots[id] == nil, "BUG in Karyons: connection \(id) already holds a peer slot")
        precondition(hasFreeOutboundSlot, "BUG in Karyons: dial without a free outbound slot")
        outboundCount += 1
        slots[id] = Slot(direction: .outbound, subnet: nil)
    }

    /// Admits `peer`, whose handshake on `id` completed, or refuses it as a duplicate (see the type's
    /// doc for the simultaneous-open tie-break).
    mutating func join(_ peer: PeerID, on id: ConnectionID) -> JoinDecision {
        guard let slot = slots[id], slot.peer == nil else {
            preconditionFailure("BUG in Karyons: join on \(id), which holds no slot or already carries a peer")
        }
        precondition(peer != localID, "BUG in Karyons: a self connection reached the pool")
        guard let existing = members[peer] else {
            admit(peer, on: id)
            return .joined
        }
        guard let existingSlot = slots[existing], existingSlot.direction != slot.direction else {
            return .duplicate(of: existing)
        }
        let newDialler = slot.direction == .outbound ? localID : peer
        guard newDialler == min(localID, peer) else { return .duplicate(of: existing) }
        slots[existing]?.peer = nil
        admit(peer, on: id)
        return .joinedReplacing(existing)
    }

    /// Frees the connection's slot and, if it carries a pool member, takes the peer out.
    mutating func release(_ id: ConnectionID) {
        guard let slot = slots.removeValue(forKey: id) else { return }
        switch slot.direction {
        case .inbound: inboundCount -= 1
        case .outbound: outboundCount -= 1
        }
        if let subnet = slot.subnet {
            inboundPerSubnet[subnet, default: 0] -= 1
            if inboundPerSubnet[subnet] == 0 { inboundPerSubnet[subnet] = nil }
        }
        if let peer = slot.peer, members[peer] == id { members[peer] = nil }
    }

    private mutating func admit(_ peer: PeerID, on id: ConnectionID) {
        slots[id]?.peer = peer
        members[peer] = id
    }

    /// Problems with the pool's bookkeeping (empty when consistent); `live` is every connection that
    /// should hold a slot.
    func checkInvariants(live: Set<ConnectionID>) -> [String] {
        var problems: [String] = []
        let inbound = slots.values.filter { $0.direction == .inbound }.count
        if inbound != inboundCount || outboundCount != slots.count - inbound {
            problems.append("peer pool: slot counts \(inboundCount)/\(outboundCount) disagree with the slots held")
        }
        if inboundCount > limits.inbound || outboundCount > limits.outbound {
            problems.append("peer pool: \(inboundCount) inbound / \(outboundCount) outbound exceed the limits")
        }
        for (subnet, count) in inboundPerSubnet.sorted(by: { $0.value < $1.value })
        where count > limits.inboundPerSubnet || count <= 0 {
            problems.append("peer pool: subnet \(subnet) counts \(count) inbound connections")
        }
        if Set(slots.keys) != live {
            problems.append("peer pool: slots held by \(slots.count) connections, \(live.count) live")
        }
        for (peer, id) in members.sorted(by: { $0.value < $1.value }) where slots[id]?.peer != peer {
            problems.append("peer pool: member \(peer.shortDescription) on \(id), which does not carry it")
        }
        let carrying = slots.values.filter { $0.peer != nil }.count
        if carrying != members.count {
            problems.append("peer pool: \(carrying) connections carry a peer, \(members.count) members")
        }
        return problems
    }
}
