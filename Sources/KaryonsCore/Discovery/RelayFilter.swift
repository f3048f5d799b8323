/// Decides which records of a `Peers` reply a requester may keep (RELIABILITY.md scenarios 28 and 30).
///
/// A responder relays records it learned from others, so nothing in them is trusted. A record is
/// dropped when it names us, names the responder itself (by its ID when we know it, or by the
/// lookup endpoint we reached it on), has the all-zero ID, repeats an ID already kept, carries a
/// zero port (it cannot be dialled or pinged), or has an address the responder had no business
/// relaying:
/// - an unspecified address (0.0.0.0, ::) is never reachable;
/// - a loopback address is only kept from a loopback responder (local simulations);
/// - a private or link-local address is only kept from a responder that is itself loopback,
///   private or link-local (a LAN seed may relay LAN peers; a public one may not).
///
/// Pure and allocation-free apart from the result.
struct RelayFilter {
    /// Our own ID.
    let localID: PeerID
    /// The responder's ID, when the lookup went through a routing-table entry.
    let responderID: PeerID?
    /// The lookup endpoint we reached the responder on.
    let responder: Endpoint

    /// The records worth keeping, in the order received.
    func filter(_ records: [PeerRecord]) -> [PeerRecord] {
        var kept: [PeerRecord] = []
        kept.reserveCapacity(records.count)
        for record in records where accepts(record) && !kept.contains(where: { $0.id == record.id }) {
            kept.append(record)
        }
        return kept
    }

    /// True when `record`, taken alone, may be kept.
    func accepts(_ record: PeerRecord) -> Bool {
        guard record.id != .zero, record.id != localID, record.id != responderID else { return false }
        guard record.port != 0, record.discoveryPort != 0 else { return false }
        if record.address.unmapped == responder.address.unmapped && record.discoveryPort == responder.port {
            return false  // The responder describing itself: it is no news, and we cannot check its ID.
        }
        return Self.mayRelay(record.address, from: responder.address)
    }

    /// True when a responder at `sender` may hand us a peer at `address`.
    static func mayRelay(_ address: IPAddress, from sender: IPAddress) -> Bool {
        if address.isUnspecified { return false }
        if address.isLoopback { return sender.isLoopback }
        if address.isPrivateOrLinkLocal { return !sender.isPublic }
        return true
    }
}
