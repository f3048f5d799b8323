// The true k nearest entries by XOR distance, using the bucket structure to skip most buckets.
//
// Why the bucket walk is exact. Write x = localID XOR target and let p be the target's bucket
// (its first non-zero byte is at 31 − p). For an entry e of bucket b, e XOR localID is zero before
// byte 31 − b and non-zero at it, and distance(e, target) = x XOR (e XOR localID). Hence:
// - b > p: the distance's first non-zero byte is at 31 − b. Every entry of bucket b is farther
//   than every entry of the buckets below b, so buckets p+1, p+2, ... are taken in order until k
//   entries are held.
// - b ≤ p: the distance equals x on bytes 0 ..< 31 − b, so it is at least x with those bytes kept
//   and the rest zeroed (x's "prefix bound" for b); buckets below b share longer prefixes of x and
//   so have larger bounds. Buckets p, p−1, ..., 0 are scanned in that order, and the walk stops
//   as soon as k entries are held that are all nearer than the next bucket's prefix bound.
// Everything in buckets 0...p is nearer than anything above p. (The original instead stopped at
// the first k entries it met and never visited buckets 0 and 31 as neighbours.)

extension RoutingTable {
    /// The `count` entries nearest to `target` by XOR distance whose status is in `statuses`
    /// (default: entries fit to hand to other peers), nearest first. Fewer if fewer match; empty
    /// for `count <= 0`. The target itself (if present and matching) counts as nearest.
    public func closest(
        to target: PeerID, count: Int, matching statuses: EntryStatusSet = .shareable
    ) -> [PeerRecord] {
        var result: [PeerRecord] = []
        closest(to: target, count: count, matching: statuses, into: &result)
        return result
    }

    /// Like ``closest(to:count:matching:)``, but replaces the contents of `result`, keeping its
    /// capacity, so that a reused buffer makes a query allocation-free.
    public func closest(
        to target: PeerID, count: Int, matching statuses: EntryStatusSet = .shareable,
        into result: inout [PeerRecord]
    ) {
        result.removeAll(keepingCapacity: true)
        let wanted = Swift.min(count, self.count(matching: statuses))
        guard wanted > 0 else { return }
        result.reserveCapacity(wanted)
        // Candidates live in temporary (stack) memory; keys and statuses are read in place.
        withUnsafeTemporaryAllocation(of: NearestCandidates.Candidate.self, capacity: wanted) { storage in
            keys.withUnsafeBufferPointer { keys in
                self.statuses.withUnsafeBufferPointer { entryStatuses in
                    var nearest = NearestCandidates(
                        storage: storage, capacity: wanted, keys: keys, target: target)
                    collectClosest(to: target, matching: statuses, statusOfSlot: entryStatuses, into: &nearest)
                    for index in 0..<nearest.count { result.append(record(atSlot: nearest.slot(at: index))) }
                }
            }
        }
    }

    private func collectClosest(
        to target: PeerID, matching statuses: EntryStatusSet, statusOfSlot: UnsafeBufferPointer<EntryStatus>,
        into nearest: inout NearestCandidates
    ) {
        let primary = bucketIndex(of: target) ?? -1
        let prefix = localID.distance(to: target)
        // When every entry matches (the common case), the per-entry status test is skipped.
        let filter = statusIndex.count(matching: statuses) == count ? nil : statuses
        // Bit b of `nearGroup` = bucket b is at or below the target's bucket.
        let nearGroup: UInt32 = primary == Self.bucketCount - 1 ? .max : (1 << UInt32(primary + 1)) - 1
        // The near group: the target's bucket, then the buckets below it, nearest bound first.
        var below = nonEmptyBuckets & nearGroup
        while below != 0 {
            let bucket = Self.bucketCount - 1 - below.leadingZeroBitCount
            if nearest.isFull && !(Self.prefixBound(of: prefix, forBucket: bucket) < nearest.farthest) { break }
            offerEntries(ofBucket: bucket, matching: filter, statusOfSlot: statusOfSlot, to: &nearest)
            below &= ~(1 << UInt32(bucket))
        }
        // The buckets above the target's, each wholly farther than everything before it.
        var above = nonEmptyBuckets & ~nearGroup
        while above != 0 && !nearest.isFull {
            let bucket = above.trailingZeroBitCount
            offerEntries(ofBucket: bucket, matching: filter, statusOfSlot: statusOfSlot, to: &nearest)
            above &= above - 1
        }
    }

    /// Offers the entries of `bucket` whose status is in `statuses` (all of them for nil).
    @inline(__always)
    private func offerEntries(
        ofBucket bucket: Int, matching statuses: EntryStatusSet?, statusOfSlot: UnsafeBufferPointer<EntryStatus>,
        to nearest: inout NearestCandidates
    ) {
        if let statuses {
            for slot in slots(ofBucket: bucket) where statuses.contains(statusOfSlot[slot]) { nearest.offer(slot) }
        } else {
            for slot in slots(ofBucket: bucket) { nearest.offer(slot) }
        }
    }

    /// The smallest distance an entry of `bucket` (or of any bucket below it) can have to a
    /// target when `prefix` = localID XOR target: `prefix` with bytes from 31 − bucket on zeroed.
    /// For the target's own bucket the bound is zero (nothing is known).
    @inline(__always)
    static func prefixBound(of prefix: Distance, forBucket bucket: Int) -> Distance {
        let keptBits = 8 * (bucketCount - 1 - bucket)
        @inline(__always) func masked(_ word: UInt64, _ index: Int) -> UInt64 {
            let bits = keptBits - 64 * index
            if bits <= 0 { return 0 }
            if bits >= 64 { return word }
            return word & ~(UInt64.max >> UInt64(bits))
        }
        return Distance(masked(prefix.w0, 0), masked(prefix.w1, 1), masked(prefix.w2, 2), masked(prefix.w3, 3))
    }
}

/// A fixed-capacity list of table slots kept sorted by distance to a target, nearest first, in
/// caller-provided (stack) storage.
///
/// A candidate is 16 bytes: the top 64 bits of its distance and its slot. Comparisons use the top
/// word and fall back to the full distance, recomputed from the key, only on a tie (rare except
/// deep in the table), so the insertion step moves little memory. A candidate no nearer than the
/// farthest one held is rejected with one comparison once the list is full.
struct NearestCandidates {
    struct Candidate {
        var high: UInt64
        var slot: Int
    }

    private let storage: UnsafeMutableBufferPointer<Candidate>
    private let capacity: Int
    private let keys: UnsafeBufferPointer<PeerID>
    private let target: PeerID
    private(set) var count = 0

    init(
        storage: UnsafeMutableBufferPointer<Candidate>, capacity: Int, keys: UnsafeBufferPointer<PeerID>,
        target: PeerID
    ) {
        precondition(capacity > 0 && capacity <= storage.count, "BUG in Karyons: nearest-candidate capacity")
        self.storage = storage
        self.capacity = capacity
        self.keys = keys
        self.target = target
    }

    var isFull: Bool { count == capacity }

    func slot(at index: Int) -> Int { storage[index].slot }

    /// The full distance of the farthest candidate held (the list must not be empty).
    var farthest: Distance { keys[storage[count - 1].slot].distance(to: target) }

    @inline(__always)
    private func isNearer(_ high: UInt64, _ slot: Int, than other: Candidate) -> Bool {
        if high != other.high { return high < other.high }
        return keys[slot].distance(to: target) < keys[other.slot].distance(to: target)
    }

    @inline(__always)
    mutating func offer(_ slot: Int) {
        let high = keys[slot].w0 ^ target.w0
        var index: Int
        if count == capacity {
            guard isNearer(high, slot, than: storage[capacity - 1]) else { return }
            index = capacity - 1
        } else {
            index = count
            count += 1
        }
        while index > 0 && isNearer(high, slot, than: storage[index - 1]) {
            storage[index] = storage[index - 1]
            index -= 1
        }
        storage[index] = Candidate(high: high, slot: slot)
    }
}
