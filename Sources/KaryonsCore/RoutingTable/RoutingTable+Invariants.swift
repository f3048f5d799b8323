// The invariant checker: recomputes every derived structure from the per-slot arrays and compares.
// Cheap enough (a few hundred entries at most) for the simulator to call after every event.

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
            guard (0...Self.bucketEntriesMax).contains(occupancy) else {
                problems.append("bucket \(bucket) holds \(occupancy) entries (max \(Self.bucketEntriesMax))")
                continue
            }
            guard occupancy > 0 else { continue }
            nonEmpty |= 1 << UInt32(bucket)
            guard slots(ofBucket: bucket).upperBound <= keys.count else {
                problems.append("bucket \(bucket) has \(occupancy) entries but its slots are not allocated")
                continue
            }
            checkEntries(ofBucket: bucket, into: &problems)
        }
        if nonEmpty != nonEmptyBuckets {
            problems.append("non-empty bucket mask \(nonEmptyBuckets) differs from the occupancies (\(nonEmpty))")
        }
    }

    private func checkEntries(ofBucket bucket: Int, into problems: inout [String]) {
        var seen = Set<PeerID>()
        var failed = 0
        for slot in slots(ofBucket: bucket) {
            let id = keys[slot], status = statuses[slot], failures = details[slot].failureCount
            if bucketIndex(of: id) != bucket {
                problems.append("\(id.shortDescription) sits in bucket \(bucket), belongs in \(String(describing: bucketIndex(of: id)))")
            }
            if !seen.insert(id).inserted { problems.append("\(id.shortDescription) appears twice in bucket \(bucket)") }
            if status == .failed { failed += 1 }
            if (status == .failed) != (failures > 0) {
                problems.append("\(id.shortDescription) is \(status) with failure count \(failures)")
            }
        }
        if failed != failedCounts[bucket] {
            problems.append("bucket \(bucket) counts \(failedCounts[bucket]) failed entries, holds \(failed)")
        }
    }

    private func checkSubnets(into problems: inout [String]) {
        var tableCounts: [IPAddress.Subnet: Int] = [:]
        let bucketMax = Swift.max(0, configuration.subnetEntriesPerBucketMax)
        let tableMax = Swift.max(0, configuration.subnetEntriesPerTableMax)
        for bucket in 0..<Self.bucketCount where occupancies[bucket] > 0 {
            var bucketCounts: [IPAddress.Subnet: Int] = [:]
            for slot in slots(ofBucket: bucket) where !details[slot].address.isLoopback {
                bucketCounts[details[slot].address.diversitySubnet, default: 0] += 1
            }
            for (subnet, count) in bucketCounts {
                tableCounts[subnet, default: 0] += count
                if count > bucketMax { problems.append("bucket \(bucket) holds \(count) entries of subnet \(subnet)") }
            }
        }
        for (subnet, count) in tableCounts where count > tableMax {
            problems.append("the table holds \(count) entries of subnet \(subnet) (max \(tableMax))")
        }
        if tableCounts != subnetCounts {
            problems.append("subnet counts \(subnetCounts) differ from the entries (\(tableCounts))")
        }
    }

    private func checkStatusIndex(into problems: inout [String]) {
        let total = occupancies.reduce(0, +)
        if count != total { problems.append("status index counts \(count) entries, buckets hold \(total)") }
        for status in EntryStatus.allCases {
            for (position, slot) in statusIndex.slots(of: status).map(Int.init).enumerated() {
                guard slot < keys.count, slots(ofBucket: Self.bucket(ofSlot: slot)).contains(slot) else {
                    problems.append("status index lists vacant slot \(slot) as \(status)")
                    continue
                }
                if statuses[slot] != status {
                    problems.append("status index lists slot \(slot) as \(status), it is \(statuses[slot])")
                }
                if statusIndex.position(of: slot) != position {
                    problems.append("slot \(slot) points to position \(statusIndex.position(of: slot)), is at \(position)")
                }
            }
        }
    }
}
