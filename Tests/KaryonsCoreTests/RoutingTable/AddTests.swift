import Testing
@testable import KaryonsCore

@Suite struct AddResultTests {
    let local = Workload.localKey
    let now = ms(1_000)

    @Test func addedThenExistsWithoutOverwriting() throws {
        var table = RoutingTable(localID: local)
        let id = key(differingAt: 0, from: local, tail: 1)
        let first = Workload.record(id, ownSubnetAddress(1))
        #expect(table.add(first, now: now) == .added)
        #expect(table.count == 1 && table.contains(id))
        let entry = try #require(table.entry(for: id))
        let expected = RoutingTable.Entry(
            record: first, status: .unverified, failureCount: 0, lastSeen: now, lastFailure: nil)
        #expect(entry == expected)

        // Same ID, another address and status: reported, and nothing changes.
        let claim = Workload.record(id, ownSubnetAddress(2))
        #expect(table.add(claim, status: .verified, now: ms(2_000)) == .exists)
        #expect(table.entry(for: id) == entry)
        #expect(table.count == 1)
        #expect(table.checkInvariants() == [])
    }

    @Test func ownKeyIsIgnored() {
        var table = RoutingTable(localID: local)
        #expect(table.add(Workload.record(local, ownSubnetAddress(1)), now: now) == .ignored(.ownKey))
        #expect(table.count == 0 && !table.contains(local))
    }

    @Test func fullBucketIgnoresNewcomersWhatEverTheirStatus() {
        var table = RoutingTable(localID: local)
        for index in 0..<RoutingTable.bucketEntriesMax {
            let id = key(differingAt: 3, from: local, tail: UInt8(index))
            #expect(table.add(Workload.record(id, ownSubnetAddress(index)), now: now) == .added)
        }
        #expect(table.occupancy(ofBucket: 28) == 20)
        for status in [EntryStatus.unverified, .verified, .connected] {
            let newcomer = key(differingAt: 3, from: local, tail: 200)
            let result = table.add(Workload.record(newcomer, ownSubnetAddress(500)), status: status, now: now)
            #expect(result == .ignored(.bucketFull))
            #expect(!table.contains(newcomer))
        }
        // Other buckets are unaffected.
        let elsewhere = Workload.record(key(differingAt: 4, from: local, tail: 0), ownSubnetAddress(501))
        #expect(table.add(elsewhere, now: now) == .added)
        #expect(table.checkInvariants() == [])
    }

    @Test func addTakesTheInitialStatus() throws {
        var table = RoutingTable(localID: local)
        for (index, status) in [EntryStatus.unverified, .verified, .connected].enumerated() {
            let id = key(differingAt: index, from: local, tail: 0)
            #expect(table.add(Workload.record(id, ownSubnetAddress(index)), status: status, now: now) == .added)
            #expect(try #require(table.entry(for: id)).status == status)
            #expect(table.count(of: status) == 1)
        }
        #expect(table.count(matching: .shareable) == 2)
        #expect(table.count(matching: .dialable) == 1)
    }

    @Test func bucketBoundariesAtBothEnds() throws {
        var table = RoutingTable(localID: .zero)
        var bytes = [UInt8](repeating: 0, count: 32)
        bytes[31] = 7
        let nearest = try #require(PeerID(bytes: bytes))
        let farthest = PeerID(.max, .max, .max, .max)
        #expect(table.add(Workload.record(nearest, ownSubnetAddress(1)), now: now) == .added)
        #expect(table.add(Workload.record(farthest, ownSubnetAddress(2)), now: now) == .added)
        #expect(table.bucketOccupancy.enumerated().filter { $0.element > 0 }.map(\.offset) == [0, 31])
        #expect(table.entries(inBucket: 0).map(\.id) == [nearest])
        #expect(table.entries(inBucket: 31).map(\.id) == [farthest])
        #expect(table.checkInvariants() == [])
    }

    @Test func removeReturnsTheEntryAndFreesItsPlace() throws {
        var table = RoutingTable(localID: local)
        let ids = (0..<20).map { key(differingAt: 1, from: local, tail: UInt8($0)) }
        for (index, id) in ids.enumerated() {
            _ = table.add(Workload.record(id, ownSubnetAddress(index)), now: ms(UInt64(index)))
        }
        let removal = table.remove(ids[4])
        let removed = try #require(removal)
        #expect(removed.id == ids[4] && removed.lastSeen == ms(4))
        #expect(table.remove(ids[4]) == nil)
        #expect(table.remove(local) == nil)
        #expect(!table.contains(ids[4]) && table.count == 19)
        // The others are all still reachable after the hole was filled.
        for id in ids where id != ids[4] { #expect(table.contains(id)) }
        #expect(table.add(Workload.record(ids[4], ownSubnetAddress(4)), now: now) == .added)
        #expect(table.checkInvariants() == [])
    }
}

@Suite struct SubnetDiversityTests {
    let local = Workload.localKey
    let now = ms(5)

    func record(bucketByte: Int, tail: UInt8, _ address: String) -> PeerRecord {
        Workload.record(key(differingAt: bucketByte, from: local, tail: tail), IPAddress(address)!)
    }

    @Test func ipv4OnePerBucketAndSixPerTable() {
        var table = RoutingTable(localID: local)
        #expect(table.add(record(bucketByte: 0, tail: 1, "203.0.113.7"), now: now) == .added)
        // Same /24, same bucket: refused; a neighbouring /24 is fine.
        #expect(table.add(record(bucketByte: 0, tail: 2, "203.0.113.200"), now: now) == .restricted(.bucket))
        #expect(table.add(record(bucketByte: 0, tail: 3, "203.0.112.7"), now: now) == .added)
        // Same /24 in five more buckets: allowed up to six in the table, then refused.
        for bucketByte in 1...5 {
            #expect(table.add(record(bucketByte: bucketByte, tail: 1, "203.0.113.\(bucketByte)"), now: now) == .added)
        }
        #expect(table.add(record(bucketByte: 6, tail: 1, "203.0.113.99"), now: now) == .restricted(.table))
        // IPv4-mapped IPv6 counts as the same IPv4 /24.
        #expect(table.add(record(bucketByte: 7, tail: 1, "::ffff:203.0.113.9"), now: now) == .restricted(.table))
        #expect(table.count == 7)
        #expect(table.checkInvariants() == [])

        // Removing one frees a place for the subnet.
        let removed = key(differingAt: 3, from: local, tail: 1)
        #expect(table.remove(removed) != nil)
        #expect(table.add(record(bucketByte: 6, tail: 1, "203.0.113.99"), now: now) == .added)
        #expect(table.checkInvariants() == [])
    }

    @Test func ipv6SharesBySlash64() {
        var table = RoutingTable(localID: local)
        #expect(table.add(record(bucketByte: 0, tail: 1, "2001:db8:1:2::1"), now: now) == .added)
        let sameSlash64 = record(bucketByte: 0, tail: 2, "2001:db8:1:2:ffff:ffff:ffff:ffff")
        #expect(table.add(sameSlash64, now: now) == .restricted(.bucket))
        #expect(table.add(record(bucketByte: 0, tail: 3, "2001:db8:1:3::1"), now: now) == .added)
        for bucketByte in 1...5 {
            let elsewhere = record(bucketByte: bucketByte, tail: 1, "2001:db8:1:2::\(bucketByte + 1)")
            #expect(table.add(elsewhere, now: now) == .added)
        }
        #expect(table.add(record(bucketByte: 6, tail: 1, "2001:db8:1:2:abcd::1"), now: now) == .restricted(.table))
        #expect(table.checkInvariants() == [])
    }

    @Test(arguments: ["127.0.0.1", "::1"])
    func loopbackAddressesAreExempt(address: String) {
        var table = RoutingTable(localID: local)
        for tail in 0..<20 {
            #expect(table.add(record(bucketByte: 0, tail: UInt8(tail), address), now: now) == .added)
        }
        for bucketByte in 1...10 {
            #expect(table.add(record(bucketByte: bucketByte, tail: 1, address), now: now) == .added)
        }
        #expect(table.add(record(bucketByte: 0, tail: 100, address), now: now) == .ignored(.bucketFull))
        #expect(table.count == 30)
        // Loopback entries do not count toward a non-loopback neighbour's limits either
        // (::2 falls in the /64 of ::1 but is not loopback).
        #expect(table.add(record(bucketByte: 11, tail: 2, "::2"), now: now) == .added)
        #expect(table.add(record(bucketByte: 11, tail: 3, "::3"), now: now) == .restricted(.bucket))
        #expect(table.checkInvariants() == [])
    }

    @Test func limitsAreConfigurable() {
        let configuration = RoutingTable.Configuration(subnetEntriesPerBucketMax: 2, subnetEntriesPerTableMax: 3)
        var table = RoutingTable(localID: local, configuration: configuration)
        #expect(table.add(record(bucketByte: 0, tail: 1, "198.51.100.1"), now: now) == .added)
        #expect(table.add(record(bucketByte: 0, tail: 2, "198.51.100.2"), now: now) == .added)
        #expect(table.add(record(bucketByte: 0, tail: 3, "198.51.100.3"), now: now) == .restricted(.bucket))
        #expect(table.add(record(bucketByte: 1, tail: 1, "198.51.100.4"), now: now) == .added)
        #expect(table.add(record(bucketByte: 2, tail: 1, "198.51.100.5"), now: now) == .restricted(.table))
        #expect(table.checkInvariants() == [])
    }

    @Test(arguments: [0, -3])
    func aZeroOrNegativeLimitAdmitsOnlyLoopback(limit: Int) {
        for configuration in [
            RoutingTable.Configuration(subnetEntriesPerBucketMax: limit, subnetEntriesPerTableMax: 6),
            RoutingTable.Configuration(subnetEntriesPerBucketMax: 1, subnetEntriesPerTableMax: limit),
        ] {
            var table = RoutingTable(localID: local, configuration: configuration)
            let bucketLimited = configuration.subnetEntriesPerBucketMax == limit
            let expected: AddResult = bucketLimited ? .restricted(.bucket) : .restricted(.table)
            #expect(table.add(record(bucketByte: 0, tail: 1, "198.51.100.1"), now: now) == expected)
            #expect(table.add(record(bucketByte: 0, tail: 2, "127.0.0.1"), now: now) == .added)
            #expect(table.checkInvariants() == [])
        }
    }

    @Test func defaultsAreTheDesignsLimits() {
        let configuration = RoutingTable.Configuration()
        #expect(configuration.subnetEntriesPerBucketMax == 1)
        #expect(configuration.subnetEntriesPerTableMax == 6)
        #expect(RoutingTable.bucketCount == 32 && RoutingTable.bucketEntriesMax == 20)
        #expect(RoutingTable.refreshCandidatesPerBucketMax == 8)
    }
}
