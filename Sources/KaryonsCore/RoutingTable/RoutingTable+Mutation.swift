// Insertion, removal and status changes. Every mutation keeps the per-slot arrays, the bucket
// counters, the status index and the subnet counts in step (see RoutingTable+Invariants.swift).

extension RoutingTable {
    /// Offers `record` to the table; see ``AddResult`` and the type's contract for the rules.
    ///
    /// `status` is `.unverified` for a record learned from another peer, `.verified` when the peer
    /// told us about itself directly (or just answered us), `.connected` when we already hold an
    /// outbound connection to it. An entry cannot be added as `.failed`. `now` becomes its
    /// `lastSeen`.
    public mutating func add(_ record: PeerRecord, status: EntryStatus = .unverified, now: Instant) -> AddResult {
        structureVersion &+= 1
        precondition(status != .failed, "BUG in Karyons: a routing-table entry cannot be added as failed")
        guard let bucket = bucketIndex(of: record.id) else { return .ignored(.ownKey) }
        if slot(of: record.id, inBucket: bucket) != nil { return .exists }
        if occupancies[bucket] < Self.bucketEntriesMax {
            if let limit = subnetLimitReached(by: record.address, inBucket: bucket, ignoring: nil) {
                return .restricted(limit)
            }
            insert(record, status: status, now: now, inBucket: bucket)
            return .added
        }
        // Full: only a failed entry may make room; live and unverified entries are kept.
        guard failedCounts[bucket] > 0 else { return .ignored(.bucketFull) }
        let victim = replacementVictim(inBucket: bucket)
        if let limit = subnetLimitReached(by: record.address, inBucket: bucket, ignoring: victim) {
            return .restricted(limit)
        }
        let evicted = self.record(atSlot: victim)
        removeEntry(atSlot: victim, inBucket: bucket)
        insert(record, status: status, now: now, inBucket: bucket)
        return .replaced(evicted: evicted)
    }

    /// Removes `id`; returns the removed entry, or nil if it was not present.
    @discardableResult
    public mutating func remove(_ id: PeerID) -> Entry? {
        structureVersion &+= 1
        guard let bucket = bucketIndex(of: id), let slot = slot(of: id, inBucket: bucket) else { return nil }
        let removed = entry(atSlot: slot)
        removeEntry(atSlot: slot, inBucket: bucket)
        return removed
    }

    /// Records that `id` answered us (a UDP pong, a lookup exchange): it becomes `verified`, or
    /// stays `connected` if we hold a connection to it; failures reset; `lastSeen` = `now`.
    /// Returns false if `id` is not in the table.
    @discardableResult
    public mutating func markVerified(_ id: PeerID, now: Instant) -> Bool {
        structureVersion &+= 1
        guard let slot = slot(of: id) else { return false }
        recordSuccess(atSlot: slot, status: statuses[slot] == .connected ? .connected : .verified, now: now)
        return true
    }

    /// Records that we now hold an outbound data connection to `id`; a success, so failures reset
    /// and `lastSeen` = `now`. Returns false if `id` is not in the table.
    @discardableResult
    public mutating func markConnected(_ id: PeerID, now: Instant) -> Bool {
        structureVersion &+= 1
        guard let slot = slot(of: id) else { return false }
        recordSuccess(atSlot: slot, status: .connected, now: now)
        return true
    }

    /// Records that our outbound connection to `id` ended without fault: a `connected` entry
    /// becomes `verified` (it was alive until `now`). Returns false, changing nothing, if `id` is
    /// absent or not `connected`. A connection that ended in a fault is reported with
    /// ``markFailed(_:now:)`` instead.
    @discardableResult
    public mutating func markDisconnected(_ id: PeerID, now: Instant) -> Bool {
        structureVersion &+= 1
        guard let slot = slot(of: id), statuses[slot] == .connected else { return false }
        recordSuccess(atSlot: slot, status: .verified, now: now)
        return true
    }

    /// Records a failed attempt to reach `id` (ping timeout, failed dial or lookup, mismatched
    /// handshake ID): it becomes `failed` and its failure count grows by one. `lastSeen` is kept.
    /// Returns the new failure count, so the caller can evict it after its limit; nil if absent.
    @discardableResult
    public mutating func markFailed(_ id: PeerID, now: Instant) -> Int? {
        structureVersion &+= 1
        guard let bucket = bucketIndex(of: id), let slot = slot(of: id, inBucket: bucket) else { return nil }
        setStatus(.failed, atSlot: slot, inBucket: bucket)
        let failures = details[slot].failureCount
        details[slot].failureCount = failures == .max ? failures : failures + 1
        details[slot].lastFailure = now
        return Int(details[slot].failureCount)
    }

    // MARK: - Internals

    private mutating func recordSuccess(atSlot slot: Int, status: EntryStatus, now: Instant) {
        setStatus(status, atSlot: slot, inBucket: Self.bucket(ofSlot: slot))
        details[slot].failureCount = 0
        details[slot].lastSeen = now
    }

    private mutating func setStatus(_ status: EntryStatus, atSlot slot: Int, inBucket bucket: Int) {
        let old = statuses[slot]
        guard old != status else { return }
        statusIndex.remove(slot, from: old)
        statusIndex.insert(slot, as: status)
        statuses[slot] = status
        if old == .failed { failedCounts[bucket] -= 1 }
        if status == .failed { failedCounts[bucket] += 1 }
    }

    /// Which subnet limit, if any, admitting `address` into `bucket` would break. `ignoring` is an
    /// entry about to be evicted, which no longer counts.
    private func subnetLimitReached(
        by address: IPAddress, inBucket bucket: Int, ignoring evicted: Int?
    ) -> AddResult.SubnetLimit? {
        if address.isLoopback { return nil }
        let subnet = address.diversitySubnet
        var sharingBucket = 0
        for slot in slots(ofBucket: bucket) where slot != evicted {
            if Self.countsToward(subnet, details[slot].address) { sharingBucket += 1 }
        }
        if sharingBucket >= configuration.subnetEntriesPerBucketMax { return .bucket }
        var sharingTable = subnetCounts[subnet] ?? 0
        if let evicted, Self.countsToward(subnet, details[evicted].address) { sharingTable -= 1 }
        if sharingTable >= configuration.subnetEntriesPerTableMax { return .table }
        return nil
    }

    /// True when an entry at `address` counts toward the limits of `subnet`.
    @inline(__always)
    static func countsToward(_ subnet: IPAddress.Subnet, _ address: IPAddress) -> Bool {
        !address.isLoopback && address.diversitySubnet == subnet
    }

    /// The failed entry a newcomer replaces in a full bucket: most failures first, then the one
    /// seen longest ago, then the smallest ID (so the choice does not depend on slot order).
    private func replacementVictim(inBucket bucket: Int) -> Int {
        var victim: Int?
        for slot in slots(ofBucket: bucket) where statuses[slot] == .failed {
            if let chosen = victim, !isEvicted(slot, before: chosen) { continue }
            victim = slot
        }
        guard let victim else { preconditionFailure("BUG in Karyons: bucket \(bucket) counts a failed entry it lacks") }
        return victim
    }

    private func isEvicted(_ slot: Int, before other: Int) -> Bool {
        let entry = details[slot], rival = details[other]
        if entry.failureCount != rival.failureCount { return entry.failureCount > rival.failureCount }
        if entry.lastSeen != rival.lastSeen { return entry.lastSeen < rival.lastSeen }
        return keys[slot] < keys[other]
    }

    private mutating func insert(_ record: PeerRecord, status: EntryStatus, now: Instant, inBucket bucket: Int) {
        let slot = Self.firstSlot(ofBucket: bucket) + occupancies[bucket]
        growSlots(toInclude: slot)
        keys[slot] = record.id
        statuses[slot] = status
        details[slot] = Details(
            address: record.address, port: record.port, discoveryPort: record.discoveryPort,
            failureCount: 0, lastSeen: now, lastFailure: nil)
        occupancies[bucket] += 1
        nonEmptyBuckets |= 1 << UInt32(bucket)
        statusIndex.insert(slot, as: status)
        if !record.address.isLoopback { subnetCounts[record.address.diversitySubnet, default: 0] += 1 }
    }

    /// Removes the entry in `slot` and moves the bucket's last entry into the hole.
    private mutating func removeEntry(atSlot slot: Int, inBucket bucket: Int) {
        let status = statuses[slot]
        statusIndex.remove(slot, from: status)
        if status == .failed { failedCounts[bucket] -= 1 }
        let address = details[slot].address
        if !address.isLoopback { decrementSubnetCount(address.diversitySubnet) }
        let last = Self.firstSlot(ofBucket: bucket) + occupancies[bucket] - 1
        if slot != last {
            keys[slot] = keys[last]
            statuses[slot] = statuses[last]
            details[slot] = details[last]
            statusIndex.relocate(from: last, to: slot, status: statuses[last])
        }
        keys[last] = .zero
        details[last] = .vacant
        occupancies[bucket] -= 1
        if occupancies[bucket] == 0 { nonEmptyBuckets &= ~(1 << UInt32(bucket)) }
    }

    private mutating func decrementSubnetCount(_ subnet: IPAddress.Subnet) {
        guard let count = subnetCounts[subnet] else {
            preconditionFailure("BUG in Karyons: subnet count missing for a stored entry")
        }
        subnetCounts[subnet] = count > 1 ? count - 1 : nil
    }

    /// Allocates slot runs up to the one holding `slot` (runs are allocated whole).
    private mutating func growSlots(toInclude slot: Int) {
        guard slot >= keys.count else { return }
        let slotCount = (slot / Self.bucketEntriesMax + 1) * Self.bucketEntriesMax
        let added = slotCount - keys.count
        keys.append(contentsOf: repeatElement(.zero, count: added))
        statuses.append(contentsOf: repeatElement(.unverified, count: added))
        details.append(contentsOf: repeatElement(.vacant, count: added))
        statusIndex.growSlots(to: slotCount)
    }
}
