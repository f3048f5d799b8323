import KaryonsCore

/// What the routing tables of a network can hold at most: a node's bucket `b` can only hold the
/// other nodes whose IDs share exactly `31 - b` leading bytes with its own, and at most
/// `RoutingTable.bucketEntriesMax` of them. The yardstick for convergence ("mean verified entries
/// at least 90% of what the table can hold for that network size"): with N random IDs a table can
/// hold about 20 + min(20, N/256) + ... entries, far fewer than 32 × 20.
enum TableCapacity {
    /// The mean, over `ids`, of the entries each node's table could hold if it knew every other
    /// node (subnet limits ignored: simulated hosts are on loopback unless told otherwise).
    /// O(n log n): IDs sharing a prefix with a node form one run of the sorted IDs.
    static func mean(of ids: [PeerID]) -> Double {
        guard !ids.isEmpty else { return 0 }
        let sorted = ids.sorted()
        var total = 0
        for id in sorted { total += capacity(of: id, among: sorted) }
        return Double(total) / Double(sorted.count)
    }

    /// The entries `id`'s table could hold among `sorted` (which contains `id`).
    static func capacity(of id: PeerID, among sorted: [PeerID]) -> Int {
        var capacity = 0
        var sharingPrefix = sorted.count  // IDs sharing the first `prefixBytes` bytes with `id`, itself included.
        for prefixBytes in 1...PeerID.byteCount {
            let sharingLonger = count(sharingFirst: prefixBytes, bytesOf: id, in: sorted)
            // Those sharing exactly `prefixBytes - 1` bytes fill bucket 32 - prefixBytes.
            capacity += min(RoutingTable.bucketEntriesMax, sharingPrefix - sharingLonger)
            sharingPrefix = sharingLonger
            if sharingPrefix <= 1 { break }
        }
        return capacity
    }

    /// How many IDs of `sorted` have the same first `prefixBytes` bytes as `id`.
    private static func count(sharingFirst prefixBytes: Int, bytesOf id: PeerID, in sorted: [PeerID]) -> Int {
        let (low, high) = prefixRange(of: id, bytes: prefixBytes)
        return firstIndex(notBelow: high, in: sorted, strictly: true) - firstIndex(notBelow: low, in: sorted, strictly: false)
    }

    /// The smallest and largest IDs that share the first `bytes` bytes with `id`.
    static func prefixRange(of id: PeerID, bytes: Int) -> (PeerID, PeerID) {
        var low: [UInt64] = [0, 0, 0, 0], high: [UInt64] = [.max, .max, .max, .max]
        for word in 0..<4 {
            let keptBits = min(64, max(0, bytes * 8 - word * 64))
            let mask: UInt64 = keptBits == 0 ? 0 : (keptBits == 64 ? .max : ~(UInt64.max >> UInt64(keptBits)))
            low[word] = id.word(word) & mask
            high[word] = id.word(word) | ~mask
        }
        return (PeerID(low[0], low[1], low[2], low[3]), PeerID(high[0], high[1], high[2], high[3]))
    }

    /// The index of the first element of `sorted` at or above `bound` (`strictly`: above it).
    private static func firstIndex(notBelow bound: PeerID, in sorted: [PeerID], strictly: Bool) -> Int {
        var low = 0, high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            let below = strictly ? sorted[middle] <= bound : sorted[middle] < bound
            if below { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
