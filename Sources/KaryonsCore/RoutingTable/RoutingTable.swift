/// The Kademlia routing table: 32 buckets of at most 20 entries, keyed by XOR distance to the local
/// ID, with subnet diversity limits and a liveness status per entry. A value type; I/O-free.
///
/// Contract:
/// - **Bucket index** of a key = `31 − (index of the first non-zero byte of localID XOR key)`, so
///   bucket 31 holds the keys whose first byte differs from ours (255/256 of all keys) and bucket 0
///   those that differ only in the last byte. The local ID itself has no bucket and is ignored.
/// - **Insertion** (``add(_:status:now:)``): own key → ignored; present → exists (nothing changes);
///   full bucket with no failed entry → ignored (live and unverified entries are never evicted);
///   subnet limit reached → restricted; otherwise added, or, in a full bucket, replaces its worst
///   failed entry. The O(1) bucket-full check comes before the subnet check, so a newcomer that
///   meets both is reported as ignored.
/// - **Subnet diversity**: entries whose addresses share an IPv4 /24 or IPv6 /64
///   (`IPAddress.diversitySubnet`) are limited per bucket and per table (`Configuration`).
///   Loopback addresses are exempt: they neither count toward nor are held by a limit, so local
///   simulations with every node on 127.0.0.1 or ::1 work. (This keeps each limit a plain count
///   per subnet; it differs from the pairwise `IPAddress.sharesDiversitySubnet` only for a
///   non-loopback address of ::/64 next to ::1, which that function pairs.)
/// - **Status** (``EntryStatus``): the caller reports what it observed through the `mark...`
///   methods, passing the time from its injected clock. `failureCount > 0` exactly when the
///   status is `failed`.
/// - **Queries**: ``closest(to:count:matching:)`` returns the true nearest entries, scanning the
///   target's bucket and usually few others; ``randomEntry(matching:using:)`` draws uniformly over
///   the matching entries in O(1). `closest(...into:)`, `randomEntry`, `bucketIndex(of:)` and
///   `contains(_:)` do not allocate.
/// - ``checkInvariants()`` returns a description of every broken internal invariant (empty when
///   sound); the simulator calls it after every event.
///
/// Storage: each bucket owns a fixed run of 20 slots in flat per-slot arrays (keys contiguous, for
/// scanning). Bucket 31 comes first, so a table only allocates the runs up to the nearest bucket
/// it has used; a typical table touches 2 to 5 buckets. Removal moves the bucket's last entry
/// into the hole, so entries have no order within a bucket.
public struct RoutingTable: Sendable {
    /// Number of buckets (one per byte of the ID).
    public static let bucketCount = 32
    /// Maximum number of entries in one bucket.
    public static let bucketEntriesMax = 20
    /// Default number of entries per bucket that a refresh round pings.
    public static let refreshCandidatesPerBucketMax = 8

    /// Tunable limits of a routing table.
    public struct Configuration: Hashable, Sendable {
        /// Entries from one diversity subnet (IPv4 /24, IPv6 /64) allowed in one bucket; a value
        /// of 0 or less admits no non-loopback entry.
        public var subnetEntriesPerBucketMax: Int
        /// Entries from one diversity subnet allowed in the whole table; a value of 0 or less
        /// admits no non-loopback entry.
        public var subnetEntriesPerTableMax: Int

        public init(subnetEntriesPerBucketMax: Int = 1, subnetEntriesPerTableMax: Int = 6) {
            self.subnetEntriesPerBucketMax = subnetEntriesPerBucketMax
            self.subnetEntriesPerTableMax = subnetEntriesPerTableMax
        }
    }

    /// A copy of one entry, as handed out by lookups and iteration.
    public struct Entry: Hashable, Sendable, CustomStringConvertible {
        /// The peer's ID, address and ports.
        public var record: PeerRecord
        public var status: EntryStatus
        /// Consecutive failures since the last success; above zero exactly when `failed`.
        public var failureCount: Int
        /// When it last answered us, or when it was added if it never has.
        public var lastSeen: Instant
        /// When it last failed, if ever.
        public var lastFailure: Instant?

        public var id: PeerID { record.id }

        public var description: String {
            "\(record) \(status) failures=\(failureCount) seen=\(lastSeen)"
        }
    }

    /// The per-slot data that is not scanned on hot paths.
    struct Details: Sendable {
        var address: IPAddress
        var port: UInt16
        var discoveryPort: UInt16
        var failureCount: UInt32
        var lastSeen: Instant
        var lastFailure: Instant?

        static let vacant = Details(
            address: .anyV4, port: 0, discoveryPort: 0, failureCount: 0, lastSeen: .zero, lastFailure: nil)
    }

    /// The ID the table is keyed to.
    public let localID: PeerID
    public let configuration: Configuration

    // Per-slot arrays; slot = (31 − bucket) × bucketEntriesMax + position in bucket.
    var keys: [PeerID] = []
    var statuses: [EntryStatus] = []
    var details: [Details] = []
    /// Entries per bucket, indexed by bucket.
    var occupancies: [Int] = Array(repeating: 0, count: RoutingTable.bucketCount)
    /// Failed entries per bucket, so a full bucket knows in O(1) whether it can take a newcomer.
    var failedCounts: [Int] = Array(repeating: 0, count: RoutingTable.bucketCount)
    /// Bit b is set when bucket b holds at least one entry.
    var nonEmptyBuckets: UInt32 = 0
    var statusIndex = StatusIndex()
    /// Non-loopback entries per diversity subnet (no zero counts are kept).
    var subnetCounts: [IPAddress.Subnet: Int] = [:]
    /// Bumped by every call that may change an entry's presence, place, status or failure count
    /// (everything `checkInvariants` reads), so a checker can skip a table it already found sound.
    public internal(set) var structureVersion: UInt64 = 0

    /// Creates an empty table keyed to `localID`.
    public init(localID: PeerID, configuration: Configuration = Configuration()) {
        self.localID = localID
        self.configuration = configuration
    }

    // MARK: - Bucket geometry

    /// The bucket `id` belongs in, relative to `local`; nil when `id == local`.
    @inlinable
    public static func bucketIndex(of id: PeerID, relativeTo local: PeerID) -> Int? {
        let zeros = local.distance(to: id).leadingZeroBitCount
        return zeros == 256 ? nil : 31 - (zeros >> 3)
    }

    /// The bucket `id` belongs in; nil for the local ID.
    @inlinable
    public func bucketIndex(of id: PeerID) -> Int? { Self.bucketIndex(of: id, relativeTo: localID) }

    /// The first slot of `bucket`'s run.
    @inline(__always)
    static func firstSlot(ofBucket bucket: Int) -> Int { (bucketCount - 1 - bucket) * bucketEntriesMax }

    /// The occupied slots of `bucket`.
    @inline(__always)
    func slots(ofBucket bucket: Int) -> Range<Int> {
        let first = Self.firstSlot(ofBucket: bucket)
        return first..<(first + occupancies[bucket])
    }

    /// The bucket that owns `slot`.
    @inline(__always)
    static func bucket(ofSlot slot: Int) -> Int { bucketCount - 1 - slot / bucketEntriesMax }

    /// The slot holding `id`, if present.
    @inline(__always)
    func slot(of id: PeerID) -> Int? {
        guard let bucket = bucketIndex(of: id) else { return nil }
        return slot(of: id, inBucket: bucket)
    }

    @inline(__always)
    func slot(of id: PeerID, inBucket bucket: Int) -> Int? {
        for slot in slots(ofBucket: bucket) where keys[slot] == id { return slot }
        return nil
    }

    // MARK: - Reading

    /// The number of entries.
    public var count: Int { statusIndex.count(matching: .all) }

    /// The number of entries whose status is in `statuses`.
    public func count(matching statuses: EntryStatusSet) -> Int { statusIndex.count(matching: statuses) }

    /// The number of entries with `status`.
    public func count(of status: EntryStatus) -> Int { statusIndex.count(of: status) }

    /// True when `id` is in the table. Does not allocate.
    public func contains(_ id: PeerID) -> Bool { slot(of: id) != nil }

    /// A copy of the entry for `id`, if present.
    public func entry(for id: PeerID) -> Entry? { slot(of: id).map(entry(atSlot:)) }

    /// The number of entries in each bucket, indexed by bucket (for occupancy metrics).
    public var bucketOccupancy: [Int] { occupancies }

    /// The number of entries in `bucket`, which must be in 0...31.
    public func occupancy(ofBucket bucket: Int) -> Int {
        precondition(occupancies.indices.contains(bucket), "BUG in Karyons: no bucket \(bucket)")
        return occupancies[bucket]
    }

    /// The number of failed entries in `bucket`, which must be in 0...31.
    public func failedCount(ofBucket bucket: Int) -> Int {
        precondition(failedCounts.indices.contains(bucket), "BUG in Karyons: no bucket \(bucket)")
        return failedCounts[bucket]
    }

    /// The entries of `bucket` (which must be in 0...31), in no particular order.
    public func entries(inBucket bucket: Int) -> [Entry] {
        precondition(occupancies.indices.contains(bucket), "BUG in Karyons: no bucket \(bucket)")
        return slots(ofBucket: bucket).map(entry(atSlot:))
    }

    /// Every entry whose status is in `statuses`, bucket 0 first.
    public func entries(matching statuses: EntryStatusSet = .all) -> [Entry] {
        var result: [Entry] = []
        result.reserveCapacity(count(matching: statuses))
        for bucket in 0..<Self.bucketCount {
            for slot in slots(ofBucket: bucket) where statuses.contains(self.statuses[slot]) {
                result.append(entry(atSlot: slot))
            }
        }
        return result
    }

    @inline(__always)
    func record(atSlot slot: Int) -> PeerRecord {
        let detail = details[slot]
        return PeerRecord(
            id: keys[slot], address: detail.address, port: detail.port, discoveryPort: detail.discoveryPort)
    }

    func entry(atSlot slot: Int) -> Entry {
        let detail = details[slot]
        return Entry(
            record: record(atSlot: slot), status: statuses[slot], failureCount: Int(detail.failureCount),
            lastSeen: detail.lastSeen, lastFailure: detail.lastFailure)
    }
}
