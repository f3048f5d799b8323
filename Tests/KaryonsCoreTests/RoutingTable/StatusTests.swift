import Testing
@testable import KaryonsCore

@Suite struct EntryStatusTests {
    let local = Workload.localKey
    let peer: PeerID
    var table: RoutingTable

    init() {
        peer = key(differingAt: 2, from: local, tail: 9)
        table = RoutingTable(localID: local)
        _ = table.add(Workload.record(peer, ownSubnetAddress(9)), now: ms(10))
    }

    @Test mutating func failureCounterGrowsAndResetsOnSuccess() throws {
        #expect(table.markFailed(peer, now: ms(20)) == 1)
        #expect(table.markFailed(peer, now: ms(30)) == 2)
        var entry = try #require(table.entry(for: peer))
        #expect(entry.status == .failed && entry.failureCount == 2)
        #expect(entry.lastFailure == ms(30) && entry.lastSeen == ms(10))  // a failure is not a sighting

        #expect(table.markVerified(peer, now: ms(40)) == true)
        entry = try #require(table.entry(for: peer))
        #expect(entry.status == .verified && entry.failureCount == 0 && entry.lastSeen == ms(40))
        #expect(table.markFailed(peer, now: ms(50)) == 1)

        #expect(table.markConnected(peer, now: ms(60)) == true)
        entry = try #require(table.entry(for: peer))
        #expect(entry.status == .connected && entry.failureCount == 0 && entry.lastSeen == ms(60))
        #expect(table.markFailed(peer, now: ms(70)) == 1)
        #expect(table.checkInvariants() == [])
    }

    @Test mutating func thirdFailureIsReportedSoTheCallerCanEvict() {
        let counts = (1...3).map { table.markFailed(peer, now: ms(UInt64(100 * $0))) }
        #expect(counts == [1, 2, 3])
        #expect(table.remove(peer)?.failureCount == 3)
        #expect(table.count == 0)
    }

    @Test mutating func connectionLifecycle() throws {
        #expect(table.markDisconnected(peer, now: ms(15)) == false)  // never connected: no change
        #expect(try #require(table.entry(for: peer)).status == .unverified)
        #expect(table.markConnected(peer, now: ms(20)) == true)
        #expect(table.markVerified(peer, now: ms(25)) == true)  // answering a ping keeps the connection's status
        var entry = try #require(table.entry(for: peer))
        #expect(entry.status == .connected && entry.lastSeen == ms(25))
        #expect(table.markDisconnected(peer, now: ms(30)) == true)
        entry = try #require(table.entry(for: peer))
        #expect(entry.status == .verified && entry.lastSeen == ms(30))
        #expect(table.checkInvariants() == [])
    }

    @Test mutating func marksOnAbsentIDsChangeNothing() {
        let stranger = key(differingAt: 2, from: local, tail: 10)
        #expect(table.markVerified(stranger, now: ms(1)) == false)
        #expect(table.markConnected(stranger, now: ms(1)) == false)
        #expect(table.markDisconnected(stranger, now: ms(1)) == false)
        #expect(table.markFailed(stranger, now: ms(1)) == nil)
        #expect(table.markFailed(local, now: ms(1)) == nil)
        #expect(table.entries().map(\.status) == [.unverified])
    }

    @Test mutating func onlyAnsweredEntriesAreSharedAndOnlyVerifiedDialled() {
        var rng = SplitMix64(seed: 1)
        #expect(table.closest(to: peer, count: 10) == [])
        #expect(table.randomEntry(using: &rng) == nil)
        #expect(table.closest(to: peer, count: 10, matching: .all).map(\.id) == [peer])

        table.markVerified(peer, now: ms(20))
        #expect(table.closest(to: peer, count: 10).map(\.id) == [peer])
        #expect(table.randomEntry(using: &rng)?.id == peer)

        table.markConnected(peer, now: ms(30))
        #expect(table.closest(to: peer, count: 10).map(\.id) == [peer])
        #expect(table.randomEntry(using: &rng) == nil)
        #expect(table.randomEntry(matching: .connected, using: &rng)?.id == peer)

        table.markFailed(peer, now: ms(40))
        #expect(table.closest(to: peer, count: 10) == [])
        #expect(table.randomEntry(matching: .shareable, using: &rng) == nil)
    }
}

@Suite struct ReplacementTests {
    let local = Workload.localKey
    let ids: [PeerID]
    var table: RoutingTable

    /// A full bucket 31 with a mix of live statuses.
    init() {
        let local = Workload.localKey
        ids = (0..<20).map { key(differingAt: 0, from: local, tail: UInt8($0)) }
        table = RoutingTable(localID: local)
        for (index, id) in ids.enumerated() {
            let status: EntryStatus = [.unverified, .verified, .connected][index % 3]
            _ = table.add(Workload.record(id, ownSubnetAddress(index)), status: status, now: ms(UInt64(index)))
        }
    }

    func newcomer(_ tail: UInt8, subnet: Int = 1_000) -> PeerRecord {
        Workload.record(key(differingAt: 0, from: local, tail: tail), ownSubnetAddress(subnet))
    }

    @Test mutating func liveEntriesAreNeverEvicted() {
        for status in [EntryStatus.unverified, .verified, .connected] {
            #expect(table.add(newcomer(100), status: status, now: ms(99)) == .ignored(.bucketFull))
        }
        #expect(Set(table.entries().map(\.id)) == Set(ids))
    }

    @Test mutating func aFailedEntryIsReplaced() throws {
        table.markFailed(ids[7], now: ms(50))
        let incoming = newcomer(100)
        let result = table.add(incoming, status: .verified, now: ms(60))
        #expect(result == .replaced(evicted: Workload.record(ids[7], ownSubnetAddress(7))))
        #expect(!table.contains(ids[7]))
        #expect(try #require(table.entry(for: incoming.id)).status == .verified)
        #expect(table.occupancy(ofBucket: 31) == 20)
        // No failed entry remains, so the next newcomer is ignored.
        #expect(table.add(newcomer(101, subnet: 1_001), now: ms(70)) == .ignored(.bucketFull))
        #expect(table.checkInvariants() == [])
    }

    @Test mutating func theVictimHasMostFailuresThenWasSeenLongestAgo() {
        table.markFailed(ids[3], now: ms(50))
        table.markFailed(ids[5], now: ms(50))
        table.markFailed(ids[5], now: ms(51))
        table.markFailed(ids[9], now: ms(50))
        table.markFailed(ids[9], now: ms(51))
        // ids[5] and ids[9] tie on failures; ids[5] (last seen at 5 ms) was seen before ids[9] (9 ms).
        let order = (100..<103).map { tail -> PeerID? in
            let result = table.add(newcomer(UInt8(tail), subnet: tail), now: ms(60))
            guard case .replaced(let evicted) = result else { return nil }
            return evicted.id
        }
        #expect(order == [ids[5], ids[9], ids[3]])
        #expect(table.checkInvariants() == [])
    }

    @Test mutating func replacementRespectsSubnetLimitsWithoutTheVictim() {
        table.markFailed(ids[4], now: ms(50))
        // Shares the /24 of a live entry of the bucket: refused, and the failed entry stays.
        #expect(table.add(newcomer(100, subnet: 6), now: ms(60)) == .restricted(.bucket))
        #expect(table.contains(ids[4]))
        // Shares the /24 of the victim only: it replaces it.
        let result = table.add(newcomer(101, subnet: 4), now: ms(60))
        #expect(result == .replaced(evicted: Workload.record(ids[4], ownSubnetAddress(4))))
        #expect(table.checkInvariants() == [])
    }
}
