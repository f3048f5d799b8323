/// The outcome of ``RoutingTable/add(_:status:now:)``. Every outcome but ``added`` and ``replaced``
/// leaves the table unchanged.
public enum AddResult: Hashable, Sendable, CustomStringConvertible {
    /// The entry was inserted into a bucket that had room.
    case added
    /// The bucket was full; a failed entry was evicted to make room (the caller may report it).
    case replaced(evicted: PeerRecord)
    /// The ID is already in the table. Nothing is updated: a relayed record never overwrites what
    /// the table holds (use the `mark...` methods for what the caller has observed itself).
    case exists
    /// The entry was not inserted, for the reason given.
    case ignored(IgnoreReason)
    /// Inserting the entry would break a subnet diversity limit (eclipse mitigation).
    case restricted(SubnetLimit)

    /// Why an entry was ignored.
    public enum IgnoreReason: Hashable, Sendable {
        /// The ID is the table's own (local) ID.
        case ownKey
        /// The bucket is full and holds no failed entry; live entries are never evicted.
        case bucketFull
    }

    /// Which subnet diversity limit refused an entry.
    public enum SubnetLimit: Hashable, Sendable {
        /// `Configuration.subnetEntriesPerBucketMax`.
        case bucket
        /// `Configuration.subnetEntriesPerTableMax`.
        case table
    }

    /// True for ``added`` and ``replaced``: the entry is now in the table.
    public var isInserted: Bool {
        switch self {
        case .added, .replaced: return true
        case .exists, .ignored, .restricted: return false
        }
    }

    public var description: String {
        switch self {
        case .added: return "added"
        case .replaced(let evicted): return "replaced(\(evicted))"
        case .exists: return "exists"
        case .ignored(.ownKey): return "ignored(own key)"
        case .ignored(.bucketFull): return "ignored(bucket full)"
        case .restricted(.bucket): return "restricted(subnet, bucket)"
        case .restricted(.table): return "restricted(subnet, table)"
        }
    }
}
