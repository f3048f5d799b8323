import Testing
@testable import KaryonsCore

/// Random operation sequences, checked against the reference table after every step and with the
/// invariant checker, over many seeds. Keys come from a small pool sharing prefixes with the local
/// ID (so buckets fill and replacements happen) and addresses from a few subnets, loopback
/// included (so the limits bite).
@Suite struct RoutingTablePropertyTests {
    struct Run {
        var rng: SplitMix64
        var table: RoutingTable
        var reference: ReferenceTable
        let pool: [PeerID]
        let addresses: [IPAddress]
        var now = Instant.zero

        init(seed: UInt64) {
            rng = SplitMix64(seed: seed)
            let local = PeerID.random(using: &rng)
            // Mostly small positive limits, sometimes zero (only loopback entries get in).
            let configuration = RoutingTable.Configuration(
                subnetEntriesPerBucketMax: rng.chance(0.1) ? 0 : 1 + rng.index(below: 3),
                subnetEntriesPerTableMax: rng.chance(0.1) ? 0 : 1 + rng.index(below: 8))
            table = RoutingTable(localID: local, configuration: configuration)
            reference = ReferenceTable(local: local, configuration: configuration)
            var keys = [local]
            for _ in 0..<160 { keys.append(Workload.mixedKey(5, with: local, &rng)) }
            pool = keys
            var addresses: [IPAddress] = [.loopbackV4, .v4(0x7F00_0102), .loopbackV6, IPAddress("::2")!]
            for index in 0..<40 {
                addresses.append(index < 30 ? ownSubnetAddress(index) : .v6(high: UInt64(index), low: 7))
            }
            // A few addresses inside shared subnets.
            for index in 0..<12 { addresses.append(.v4(0xC633_6400 | UInt32(index))) }
            self.addresses = addresses
        }

        /// One random operation; returns what an `add` returned (for coverage statistics).
        @discardableResult
        mutating func step() -> AddResult? {
            now = now + .milliseconds(UInt64(rng.index(below: 3)))
            let id = pool[rng.index(below: pool.count)]
            switch rng.index(below: 20) {
            case 0..<10:
                let record = PeerRecord(
                    id: id, address: addresses[rng.index(below: addresses.count)], port: 1, discoveryPort: 2)
                let status: EntryStatus = [.unverified, .verified, .connected][rng.index(below: 3)]
                let result = table.add(record, status: status, now: now)
                expectSame(result, reference.add(record, status: status, now: now))
                return result
            case 10..<14:
                expectSame(table.markFailed(id, now: now), reference.markFailed(id, now: now))
            case 14, 15:
                let present = reference.entries[id] != nil
                let status: EntryStatus = reference.entries[id]?.status == .connected ? .connected : .verified
                expectSame(table.markVerified(id, now: now), present)
                reference.succeed(id, status: status, now: now)
            case 16:
                expectSame(table.markConnected(id, now: now), reference.entries[id] != nil)
                reference.succeed(id, status: .connected, now: now)
            case 17:
                let connected = reference.entries[id]?.status == .connected
                expectSame(table.markDisconnected(id, now: now), connected)
                if connected { reference.succeed(id, status: .verified, now: now) }
            default:
                expectSame(table.remove(id), reference.remove(id))
            }
            return nil
        }

        mutating func checkQueries() {
            let filter = EntryStatusSet(rawValue: UInt8(rng.index(below: 16)))
            if let drawn = table.randomEntry(matching: filter, using: &rng) {
                expectSame(reference.entries[drawn.id].map { filter.contains($0.status) && $0.record == drawn }, true)
            } else {
                expectSame(reference.entries.values.contains { filter.contains($0.status) }, false)
            }
            let target = pool[rng.index(below: pool.count)]
            expectSame(
                table.closest(to: target, count: 10, matching: filter).map(\.id),
                reference.closest(to: target, count: 10, matching: filter))
            expectSame(
                table.refreshCandidates(perBucketMax: 8, matching: filter),
                reference.refreshCandidates(perBucketMax: 8, matching: filter))
        }
    }

    /// 48 seeds of 300 steps (in batches, so that they run in parallel).
    @Test(arguments: 0..<6)
    func randomOperationsMatchTheReferenceAndKeepInvariants(batch: Int) {
        for seed in (batch * 8)..<(batch * 8 + 8) {
            var run = Run(seed: UInt64(seed))
            for step in 0..<300 {
                run.step()
                let problems = run.table.checkInvariants()
                expectSame(problems, [], "seed \(seed) step \(step)")
                if !problems.isEmpty { return }
                if step % 10 == 0 {
                    expectSame(run.table.sortedEntries, run.reference.sortedEntries, "seed \(seed) step \(step)")
                    run.checkQueries()
                }
            }
            #expect(run.table.sortedEntries == run.reference.sortedEntries)
            for status in EntryStatus.allCases {
                let expected = run.reference.entries.values.filter { $0.status == status }.count
                #expect(run.table.count(of: status) == expected)
            }
            #expect(run.table.bucketOccupancy == (0..<32).map { run.reference.members[$0].count })
        }
    }
}

/// The checker must be able to fail: each corruption of the internal state is reported.
@Suite struct InvariantCheckerTests {
    static func sampleTable() -> RoutingTable {
        var table = RoutingTable(localID: Workload.localKey)
        for index in 0..<30 {
            let id = key(differingAt: index % 3, from: Workload.localKey, tail: UInt8(index))
            _ = table.add(Workload.record(id, ownSubnetAddress(index)), status: .verified, now: ms(1))
        }
        table.markFailed(key(differingAt: 0, from: Workload.localKey, tail: 0), now: ms(2))
        return table
    }

    @Test func aSoundTableHasNoProblems() {
        #expect(Self.sampleTable().checkInvariants() == [])
    }

    @Test func corruptionsAreReported() {
        var corruptions: [(String, (inout RoutingTable) -> Void)] = []
        corruptions.append(("oversized bucket", { $0.occupancies[31] = 21 }))
        corruptions.append(("bucket without slots", { $0.occupancies[20] = 3 }))
        corruptions.append(("local ID stored", { $0.keys[0] = Workload.localKey }))
        let stray = key(differingAt: 5, from: Workload.localKey, tail: 1)
        corruptions.append(("entry in a wrong bucket", { $0.keys[0] = stray }))
        corruptions.append(("duplicate key", { $0.keys[1] = $0.keys[2] }))
        corruptions.append(("status without index update", { $0.statuses[3] = .connected }))
        corruptions.append(("failure count of a verified entry", { $0.details[4].failureCount = 2 }))
        corruptions.append(("failed counter", { $0.failedCounts[31] += 1 }))
        corruptions.append(("non-empty mask", { $0.nonEmptyBuckets |= 1 }))
        corruptions.append(("subnet count", { $0.subnetCounts[ownSubnetAddress(5).diversitySubnet] = 2 }))
        corruptions.append(("shared subnet in a bucket", { $0.details[5].address = $0.details[6].address }))
        corruptions.append(("status index", { $0.statusIndex.remove(7, from: .verified) }))
        for (name, corrupt) in corruptions {
            var table = Self.sampleTable()
            corrupt(&table)
            #expect(!table.checkInvariants().isEmpty, "\(name) went unnoticed")
        }
    }
}
