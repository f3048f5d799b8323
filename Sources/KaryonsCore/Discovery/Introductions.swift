/// The nodes that introduced themselves lately (the Peer record a requester sends at the end of a
/// lookup), a few of which every Peers reply passes on.
///
/// Why: buckets keep their first live entries, so in a network that fills up, every table — and so
/// every Peers reply — names the same early nodes, whose inbound slots are long full, while nodes
/// that joined later have free slots that nobody knows of (they introduce themselves, but full
/// buckets ignore them). A node that runs lookups is seeding: it joined lately or is short of peers,
/// so it likely has free inbound slots. Passing a few of them on lets such nodes find each other.
///
/// Bounds (eclipse guard): at most `recordsMax` records, at most one per diversity subnet (IPv4
/// /24, IPv6 /64; loopback exempt), the newest kept; at most `perReplyMax` of a reply's records
/// are introductions, replacing its farthest ones, and the requester learns them unverified
/// (pinged before they are dialled or shared), like any relayed record. The record's address is
/// the one our listener observed, never the one claimed. An introduction our own table holds as
/// unverified or failed is withheld: the table's verdict comes first (RELIABILITY.md 33 — only
/// records the table cannot hold are passed on unpinged, first-hand from a TCP connection).
struct Introductions {
    /// Records remembered.
    static let recordsMax = 16
    /// Introductions in one Peers reply, at most.
    static let perReplyMax = 3

    /// Newest last.
    private(set) var records: [PeerRecord] = []

    /// A requester introduced itself: remember it as the newest (replacing an older record of the
    /// same ID or subnet, else the oldest at the limit).
    mutating func remember(_ record: PeerRecord) {
        records.removeAll { $0.id == record.id || Self.sameSubnet($0.address, record.address) }
        if records.count >= Self.recordsMax { records.removeFirst(records.count - Self.recordsMax + 1) }
        records.append(record)
    }

    /// `reply` (the table's nearest records to `target`, nearest first) with up to `perReplyMax`
    /// of the newest introductions it lacks (never the target) added, replacing its farthest
    /// records so that it stays within `limit` records.
    /// Records `isWithheld` rejects are left out.
    func mix(
        into reply: [PeerRecord], target: PeerID, limit: Int, isWithheld: (PeerRecord) -> Bool = { _ in false }
    ) -> [PeerRecord] {
        var picked: [PeerRecord] = []
        for record in records.reversed() where picked.count < min(Self.perReplyMax, limit) {
            guard record.id != target, !reply.contains(where: { $0.id == record.id }), !isWithheld(record) else {
                continue
            }
            picked.append(record)
        }
        guard !picked.isEmpty else { return reply }
        let kept = min(reply.count, limit - picked.count)
        return Array(reply.prefix(kept)) + picked
    }

    /// Forgets everything.
    mutating func removeAll() { records = [] }

    private static func sameSubnet(_ a: IPAddress, _ b: IPAddress) -> Bool {
        !a.isLoopback && !b.isLoopback && a.diversitySubnet == b.diversitySubnet
    }
}
