// The invariant checker: recomputes every derived structure from the per-slot arrays and compares.
// Cheap enough for the simulator to call after every event: pairwise checks stay inside a bucket
// (at most 20 entries), and a sound table allocates only the one per-subnet tally.

extension RoutingTable {
    /// Describes every broken invariant; empty when the table is sound. Checks bucket sizes, that
    /// each entry sits in its bucket and appears once, the subnet limits, the failure counts
    /// against the statuses, and the per-bucket counters and status index against the entries.
    public func checkInvariants() -> [String] {
        var problems: [String] = []
        checkBuckets(into: &problems)
        checkSubnets(into: &problems)
        checkStatusIndex(into: &problems)
        return problems
    }

    private func checkBuckets(into problems: inout [String]) {
        var nonEmpty: UInt32 = 0
        for bucket in 0..<Self.bucketCount {
            let occupancy = occupancies[bucket]
            if occupancy != 0 { nonEmpty |= 1 << UInt32(bucket) }
            if hasReadableEntries(bucket) {
                checkEntries(ofBucket: bucket, into: &problems)
            } else if !(0...Self.bucketEntriesMax).contains(occupancy) {
                problems.append("bucket \(bucket) holds \(occupancy) entries (max \(Self.bucketEntriesMax))")
            } else if occupancy > 0 {
                problems.append("bucket \(bucket) has \(occupancy) entries but its slots are not allocated")
            }
        }
        if nonEmpty != nonEmptyBuckets {
            problems.append("non-empty bucket mask \(nonEmptyBuckets) differs from the occupancies (\(nonEmpty))")
        }
    }

    private func checkEntries(ofBucket bucket: Int, into problems: inout [String]) {
        var failed = 0
        let bucketSlots = slots(ofBucket: bucket)
        for slot in bucketSlots {
            let id = keys[slot], status = statuses[slot], failures = details[slot].failureCount
            if let home = bucketIndex(of: id), home != bucket {
                problems.append("\(id.shortDescription) sits in bucket \(bucket), belongs in \(home)")
            } else if id == localID {
                problems.append("the local ID sits in bucket \(bucket)")
            }
            if bucketSlots[..<slot].contains(where: { keys[$0] == id }) {
                problems.append("\(id.shortDescription) appears twice in bucket \(bucket)")
            }
            if status == .failed { failed += 1 }
            if (status == .failed) != (failures > 0) {
                problems.append("\(id.shortDescription) is \(status) with failure count \(failures)")
            }
        }
        if failed != failedCounts[bucket] {
            problems.append("bucket \(bucket) counts \(failedCounts[bucket]) failed entries, holds \(failed)")
        }
    }

    /// True when `bucket` holds entries and its size and slots are sound enough to read them
    /// (an unsound bucket is reported by `checkBuckets`).
    private func hasReadableEntries(_ bucket: Int) -> Bool {
        (1...Self.bucketEntriesMax).contains(occupancies[bucket]) && slots(ofBucket: bucket).upperBound <= keys.count
    }

    private func checkSubnets(into problems: inout [String]) {
        let bucketMax = Swift.max(0, configuration.subnetEntriesPerBucketMax)
        let readable = (0..<Self.bucketCount).reduce(0) { $0 + (hasReadableEntries($1) ? occupancies[$1] : 0) }
        withUnsafeTemporaryAllocation(of: IPAddress.Subnet.self, capacity: Swift.max(readable, 1)) { subnets in
            var filled = 0
            for bucket in 0..<Self.bucketCount where hasReadableEntries(bucket) {
                let bucketStart = filled
                for slot in slots(ofBucket: bucket) where !details[slot].address.isLoopback {
                    subnets.initializeElement(at: filled, to: details[slot].address.diversitySubnet)
                    filled += 1
                }
                // Each subnet of the bucket is counted once, at its first entry.
                let inBucket = subnets[bucketStart..<filled]
                for index in inBucket.indices where !inBucket[..<index].contains(inBucket[index]) {
                    let sharing = inBucket[index...].count { $0 == inBucket[index] }
                    if sharing > bucketMax {
                        problems.append("bucket \(bucket) holds \(sharing) entries of \(inBucket[index])")
                    }
                }
            }
            checkSubnetTotals(UnsafeMutableBufferPointer(rebasing: subnets[..<filled]), into: &problems)
        }
    }

    /// Checks the table-wide limit and `subnetCounts` against the subnets of all non-loopback
    /// entries (sorted here, so that equal subnets form runs; no hashing per entry).
    private func checkSubnetTotals(
        _ subnets: UnsafeMutableBufferPointer<IPAddress.Subnet>, into problems: inout [String]
    ) {
        let tableMax = Swift.max(0, configuration.subnetEntriesPerTableMax)
        var subnets = subnets
        subnets.sort { ($0.family, $0.prefix) < ($1.family, $1.prefix) }
        var distinct = 0
        var start = 0
        while start < subnets.count {
            let subnet = subnets[start]
            var end = start + 1
            while end < subnets.count && subnets[end] == subnet { end += 1 }
            if end - start > tableMax { problems.append("the table holds \(end - start) entries of \(subnet)") }
            if subnetCounts[subnet] != end - start {
                problems.append("\(subnet) is counted \(subnetCounts[subnet] ?? 0) times, held \(end - start) times")
            }
            distinct += 1
            start = end
        }
        if distinct != subnetCounts.count {
            problems.append("\(subnetCounts.count) subnets are counted, \(distinct) are held")
        }
    }

    private func checkStatusIndex(into problems: inout [String]) {
        let total = occupancies.reduce(0, +)
        if count != total { problems.append("status index counts \(count) entries, buckets hold \(total)") }
        for status in EntryStatus.allCases {
            for position in 0..<statusIndex.count(of: status) {
                let slot = statusIndex.slot(position, of: status)
                guard slot < keys.count, slots(ofBucket: Self.bucket(ofSlot: slot)).contains(slot) else {
                    problems.append("status index lists vacant slot \(slot) as \(status)")
                    continue
                }
                if statuses[slot] != status {
                    problems.append("status index lists slot \(slot) as \(status), it is \(statuses[slot])")
                }
                if statusIndex.position(of: slot) != position {
                    let recorded = statusIndex.position(of: slot)
                    problems.append("slot \(slot) points to position \(recorded) of its list, is at \(position)")
                }
            }
        }
    }
}
