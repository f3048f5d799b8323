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
/// newer connection is the keeper, it replaces the older one, which the caller closes; when the keeper
/// is inbound, whose handshake still waits for the dialler's confirmation, it only becomes the peer's
/// successor, and replaces the older connection once confirmed (`confirm`). A keeper that is never
/// confirmed is released and the older connection stays: the tie-break never leaves a peer with no
/// connection at all.
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
        /// The tie-break keeps this inbound connection, but the peer stays in on the given older one
        /// until the dialler confirms this one (`confirm`), which then takes it over.
        case successor(of: ConnectionID)
    }

    private struct Slot: Hashable {
        /// The connection holding the slot (its generation tells a stale ID apart).
        let id: ConnectionID
        let direction: Direction
        /// The inbound remote's diversity subnet (nil for outbound and loopback).
        let subnet: IPAddress.Subnet?
        /// The peer this connection carries once it joined.
        var peer: PeerID?
    }

    let limits: Limits
    let localID: PeerID
    /// The slots held, indexed by connection slot (array lookups, no hashing on the hot path).
    private var slots: [Slot?] = []
    /// The number of slots held.
    private var heldCount = 0
    private var members: [PeerID: ConnectionID] = [:]
    /// Inbound connections the tie-break keeps, waiting for their confirmation to replace the
    /// member's connection, by peer (their slots carry the peer too).
    private var successors: [PeerID: ConnectionID] = [:]
    private var inboundPerSubnet: [IPAddress.Subnet: Int] = [:]
    /// Inbound connections holding a slot.
    private(set) var inboundCount = 0
    /// Outbound connections (dialling, handshaking or established) holding a slot.
    private(set) var outboundCount = 0
    /// Bumped by every call that may change the slots or the members, so a checker can skip a pool
    /// it already found sound.
    private(set) var version: UInt64 = 0

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
    func peer(on id: ConnectionID) -> PeerID? { slot(of: id)?.peer }

    /// True if the connection holds a slot.
    func holdsSlot(_ id: ConnectionID) -> Bool { slot(of: id) != nil }

    private func slot(of id: ConnectionID) -> Slot? {
        let index = Int(id.slot)
        guard index < slots.count, let slot = slots[index], slot.id == id else { return nil }
        return slot
    }

    private mutating func store(_ slot: Slot) {
        let index = Int(slot.id.slot)
        if index >= slots.count { slots.append(contentsOf: repeatElement(nil, count: index + 1 - slots.count)) }
        if slots[index] == nil { heldCount += 1 }
        slots[index] = slot
    }

    private mutating func setPeer(_ peer: PeerID?, of id: ConnectionID) {
        guard slot(of: id) != nil else { return }
        slots[Int(id.slot)]!.peer = peer
    }

    /// Takes an inbound slot for a connection accepted from `address`, or says why not.
    mutating func openInbound(_ id: ConnectionID, from address: IPAddress) -> InboundRefusal? {
        version &+= 1
        precondition(slot(of: id) == nil, "BUG in Karyons: connection \(id) already holds a peer slot")
        guard inboundCount < limits.inbound else { return .noFreeSlot }
        let subnet = address.isLoopback ? nil : address.diversitySubnet
        if let subnet {
            guard inboundPerSubnet[subnet, default: 0] < limits.inboundPerSubnet else { return .subnetFull }
            inboundPerSubnet[subnet, default: 0] += 1
        }
        inboundCount += 1
        store(Slot(id: id, direction: .inbound, subnet: subnet))
        return nil
    }

    /// Takes an outbound slot for a dial (check `hasFreeOutboundSlot` first).
    mutating func openOutbound(_ id: ConnectionID) {
        version &+= 1
        precondition(slot(of: id) == nil, "BUG in Karyons: connection \(id) already holds a peer slot")
        precondition(hasFreeOutboundSlot, "BUG in Karyons: dial without a free outbound slot")
        outboundCount += 1
        store(Slot(id: id, direction: .outbound, subnet: nil))
    }

    /// Admits `peer`, whose handshake on `id` completed, or refuses it as a duplicate (see the type's
    /// doc for the simultaneous-open tie-break).
    mutating func join(_ peer: PeerID, on id: ConnectionID) -> JoinDecision {
        version &+= 1
        guard let slot = slot(of: id), slot.peer == nil else {
            preconditionFailure("BUG in Karyons: join on \(id), which holds no slot or already carries a peer")
        }
        precondition(peer != localID, "BUG in Karyons: a self connection reached the pool")
        guard let existing = members[peer] else {
            admit(peer, on: id)
            return .joined
        }
        if let successor = successors[peer] { return .duplicate(of: successor) }
        guard let existingSlot = self.slot(of: existing), existingSlot.direction != slot.direction else {
            return .duplicate(of: existing)
        }
        let newDialler = slot.direction == .outbound ? localID : peer
        guard newDialler == min(localID, peer) else { return .duplicate(of: existing) }
        if slot.direction == .inbound {
            // Our accepting Verack is not confirmed yet: the older connection stays until it is.
            setPeer(peer, of: id)
            successors[peer] = id
            return .successor(of: existing)
        }
        setPeer(nil, of: existing)
        admit(peer, on: id)
        return .joinedReplacing(existing)
    }

    /// The listener's handshake on `id` was confirmed: if `id` is its peer's successor, it takes the
    /// peer over and the older connection is out of the pool. Returns that older connection, which
    /// the caller closes (`duplicatePeer`).
    mutating func confirm(_ id: ConnectionID) -> ConnectionID? {
        guard let peer = slot(of: id)?.peer, successors[peer] == id else { return nil }
        version &+= 1
        successors[peer] = nil
        let older = members[peer]
        if let older { setPeer(nil, of: older) }
        members[peer] = id
        return older
    }

    /// Frees the connection's slot and, if it carries a pool member, takes the peer out.
    mutating func release(_ id: ConnectionID) {
        version &+= 1
        guard let slot = slot(of: id) else { return }
        slots[Int(id.slot)] = nil
        heldCount -= 1
        switch slot.direction {
        case .inbound: inboundCount -= 1
        case .outbound: outboundCount -= 1
        }
        if let subnet = slot.subnet {
            inboundPerSubnet[subnet, default: 0] -= 1
            if inboundPerSubnet[subnet] == 0 { inboundPerSubnet[subnet] = nil }
        }
        guard let peer = slot.peer else { return }
        if members[peer] == id {
            // A successor waiting for its confirmation carries the peer from here on, as any
            // listener's handshake does.
            members[peer] = successors.removeValue(forKey: peer)
        } else if successors[peer] == id {
            successors[peer] = nil
        }
    }

    private mutating func admit(_ peer: PeerID, on id: ConnectionID) {
        setPeer(peer, of: id)
        members[peer] = id
    }

    /// Problems with the pool's bookkeeping (empty when consistent); `live` is every connection that
    /// should hold a slot.
    func checkInvariants(live: Set<ConnectionID>) -> [String] {
        var problems: [String] = []
        checkInvariants(heldBy: live.count, into: &problems)
        for id in live.sorted() where !holdsSlot(id) { problems.append("peer pool: live connection \(id) holds no slot") }
        return problems
    }

    /// Appends problems with the pool's bookkeeping, given how many connections should hold a slot
    /// (the caller checks that each of them does). Allocates nothing and hashes once per subnet when
    /// the pool is sound: members and slots are cross-checked through the slot array (each member's
    /// and each successor's slot carries its peer, a successor is not its peer's member, and as many
    /// slots carry a peer as there are members and successors, so they agree).
    func checkInvariants(heldBy expected: Int, into problems: inout [String]) {
        var inbound = 0, outbound = 0, carrying = 0, held = 0
        var subnetSlots = 0
        for index in slots.indices {
            guard let slot = slots[index] else { continue }
            held += 1
            if slot.id.slot != UInt32(index) { problems.append("peer pool: slot \(index) holds \(slot.id)") }
            switch slot.direction {
            case .inbound: inbound += 1
            case .outbound: outbound += 1
            }
            if slot.peer != nil { carrying += 1 }
            if slot.subnet != nil { subnetSlots += 1 }
        }
        if held != heldCount { problems.append("peer pool: counts \(heldCount) slots, holds \(held)") }
        if inbound != inboundCount || outbound != outboundCount {
            problems.append("peer pool: slot counts \(inboundCount)/\(outboundCount) disagree with the slots held")
        }
        if inboundCount > limits.inbound || outboundCount > limits.outbound {
            problems.append("peer pool: \(inboundCount) inbound / \(outboundCount) outbound exceed the limits")
        }
        checkSubnets(subnetSlots: subnetSlots, into: &problems)
        if held != expected {
            problems.append("peer pool: slots held by \(held) connections, \(expected) live")
        }
        if members.contains(where: { slot(of: $0.value)?.peer != $0.key }) {
            // Reported in connection order (a Dictionary's order differs between runs).
            for (peer, id) in members.sorted(by: { $0.value < $1.value }) where slot(of: id)?.peer != peer {
                problems.append("peer pool: member \(peer.shortDescription) on \(id), which does not carry it")
            }
        }
        if successors.contains(where: { !isSoundSuccessor($0.value, of: $0.key) }) {
            for (peer, id) in successors.sorted(by: { $0.value < $1.value }) where !isSoundSuccessor(id, of: peer) {
                problems.append("peer pool: successor \(id) of \(peer.shortDescription) does not carry it, or replaces no other member")
            }
        }
        if carrying != members.count + successors.count {
            problems.append(
                "peer pool: \(carrying) connections carry a peer, \(members.count) members and \(successors.count) successors")
        }
    }

    /// A successor carries its peer, which is a member on another connection.
    private func isSoundSuccessor(_ id: ConnectionID, of peer: PeerID) -> Bool {
        guard let member = members[peer] else { return false }
        return member != id && slot(of: id)?.peer == peer
    }

    private func checkSubnets(subnetSlots: Int, into problems: inout [String]) {
        var counted = 0
        var isSound = true
        for count in inboundPerSubnet.values {
            counted += count
            if count > limits.inboundPerSubnet || count <= 0 { isSound = false }
        }
        if !isSound {
            for (subnet, count) in inboundPerSubnet.sorted(by: { $0.value < $1.value })
            where count > limits.inboundPerSubnet || count <= 0 {
                problems.append("peer pool: subnet \(subnet) counts \(count) inbound connections")
            }
        }
        if counted != subnetSlots {
            problems.append("peer pool: \(counted) inbound connections counted by subnet, \(subnetSlots) held")
        }
    }
}
