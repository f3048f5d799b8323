/// What the node knows about a routing-table entry's liveness. An entry has exactly one status.
///
/// The discovery machines drive an entry through this life cycle:
/// - ``unverified``: learned from another peer (a lookup reply or a relayed record). It has not
///   answered us yet, so it is pinged promptly, never dialled and never handed to others.
/// - ``verified``: it answered us (a UDP pong or a lookup exchange), or it told us about itself
///   directly. Dialable, and handed out in Peers replies.
/// - ``connected``: we hold an outbound data connection to it. Handed out; not dialled again.
/// - ``failed``: the last attempt to reach it failed, and its failure count is above zero. Neither
///   dialled nor handed out, and replaced by a newcomer when its bucket is full. The caller evicts
///   it after repeated failures; any success (verified or connected) resets the count.
public enum EntryStatus: UInt8, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case unverified
    case verified
    case connected
    case failed

    public var description: String {
        switch self {
        case .unverified: return "unverified"
        case .verified: return "verified"
        case .connected: return "connected"
        case .failed: return "failed"
        }
    }
}

/// A set of entry statuses, used as a filter by `closest`, random selection, counts and refresh.
///
/// The named sets encode the protocol's rules, so callers do not repeat them: ``shareable`` entries
/// may be handed to other peers, ``dialable`` entries may receive a new outbound connection, and
/// ``refreshable`` entries are the ones a refresh round pings.
public struct EntryStatusSet: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8

    @inlinable
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The set holding exactly `status`.
    @inlinable
    public init(_ status: EntryStatus) { rawValue = 1 &<< status.rawValue }

    public static let unverified = EntryStatusSet(.unverified)
    public static let verified = EntryStatusSet(.verified)
    public static let connected = EntryStatusSet(.connected)
    public static let failed = EntryStatusSet(.failed)

    /// Every status.
    public static let all: EntryStatusSet = [.unverified, .verified, .connected, .failed]
    /// Entries that answered us and have not failed since: fit to hand to other peers.
    public static let shareable: EntryStatusSet = [.verified, .connected]
    /// Entries that may receive a new outbound connection: answered, and not already connected.
    public static let dialable: EntryStatusSet = [.verified]
    /// Entries a refresh round pings: all but those we hold a live connection to.
    public static let refreshable: EntryStatusSet = [.unverified, .verified, .failed]

    /// True when `status` is in the set.
    @inlinable
    public func contains(_ status: EntryStatus) -> Bool { rawValue & (1 &<< status.rawValue) != 0 }

    public var description: String {
        "[" + EntryStatus.allCases.filter { contains($0) }.map(\.description).joined(separator: ", ") + "]"
    }
}
