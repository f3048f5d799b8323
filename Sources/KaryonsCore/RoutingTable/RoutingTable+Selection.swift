// Picking entries to contact: uniform random draws (dial candidates) and refresh candidates.

extension RoutingTable {
    /// An entry drawn uniformly over all entries whose status is in `statuses` (default: dialable
    /// entries), or nil if none matches. O(1), no allocation; the only randomness is `rng`.
    ///
    /// Uniform over entries, not over buckets: the original picked a random bucket first, which
    /// favoured the few entries of sparse near buckets (a "False Friends" bias).
    public func randomEntry(matching statuses: EntryStatusSet = .dialable, using rng: inout SplitMix64) -> PeerRecord? {
        let total = statusIndex.count(matching: statuses)
        guard total > 0 else { return nil }
        var index = rng.index(below: total)
        for status in EntryStatus.allCases where statuses.contains(status) {
            let members = statusIndex.count(of: status)
            if index < members { return record(atSlot: statusIndex.slot(index, of: status)) }
            index -= members
        }
        preconditionFailure("BUG in Karyons: status index counts disagree with their total")
    }

    /// The entries a refresh round should ping: from each bucket, up to `perBucketMax` entries
    /// whose status is in `statuses` (default: all but connected ones), those seen longest ago
    /// first. The result is ordered by `lastSeen`, oldest first, ties broken by ID.
    public func refreshCandidates(
        perBucketMax: Int = RoutingTable.refreshCandidatesPerBucketMax,
        matching statuses: EntryStatusSet = .refreshable
    ) -> [Entry] {
        guard perBucketMax > 0 else { return [] }
        var candidates: [Entry] = []
        for bucket in 0..<Self.bucketCount where occupancies[bucket] > 0 {
            var bucketEntries = slots(ofBucket: bucket)
                .filter { statuses.contains(self.statuses[$0]) }
                .map(entry(atSlot:))
            bucketEntries.sort(by: Self.isSeenEarlier)
            candidates.append(contentsOf: bucketEntries.prefix(perBucketMax))
        }
        candidates.sort(by: Self.isSeenEarlier)
        return candidates
    }

    private static func isSeenEarlier(_ lhs: Entry, _ rhs: Entry) -> Bool {
        (lhs.lastSeen, lhs.id) < (rhs.lastSeen, rhs.id)
    }
}
