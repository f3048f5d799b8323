import Testing
@testable import KaryonsCore

@Suite struct ClosestTests {
    /// A table and its reference twin, filled with `Mixed(prefixBound)` keys (many buckets in use
    /// when the bound is large) in random statuses, each in its own /24.
    static func randomTables(
        seed: UInt64, prefixBound: Int, attempts: Int
    ) -> (RoutingTable, ReferenceTable, SplitMix64) {
        var rng = SplitMix64(seed: seed)
        let local = PeerID.random(using: &rng)
        var table = RoutingTable(localID: local)
        var reference = ReferenceTable(local: local, configuration: table.configuration)
        for index in 0..<attempts {
            let record = Workload.record(Workload.mixedKey(prefixBound, with: local, &rng), ownSubnetAddress(index))
            let status: EntryStatus = [.unverified, .verified, .connected][rng.index(below: 3)]
            let now = ms(UInt64(index))
            expectSame(table.add(record, status: status, now: now), reference.add(record, status: status, now: now))
            if rng.chance(0.15) {
                expectSame(table.markFailed(record.id, now: now), reference.markFailed(record.id, now: now))
            }
        }
        return (table, reference, rng)
    }

    /// Targets that stress the bucket walk: uniform, sharing a prefix with us, our own ID, and
    /// keys of stored entries.
    static func target(_ rng: inout SplitMix64, table: RoutingTable) -> PeerID {
        switch rng.index(below: 4) {
        case 0: return PeerID.random(using: &rng)
        case 1: return Workload.mixedKey(32, with: table.localID, &rng)
        case 2: return table.localID
        default:
            let entries = table.entries()
            return entries.isEmpty ? table.localID : entries[rng.index(below: entries.count)].id
        }
    }

    @Test(arguments: [(4, 120, 20), (32, 400, 12), (32, 2_000, 5), (2, 30, 20)])
    func matchesBruteForceOverRandomTables(prefixBound: Int, attempts: Int, seeds: UInt64) {
        let filters: [EntryStatusSet] = [.shareable, .all, .dialable, .failed, .unverified, []]
        for seed in 0..<seeds {
            var (table, reference, rng) = Self.randomTables(
                seed: seed &* 7919 &+ UInt64(attempts), prefixBound: prefixBound, attempts: attempts)
            #expect(table.checkInvariants() == [])
            var reused: [PeerRecord] = []
            for _ in 0..<40 {
                let target = Self.target(&rng, table: table)
                let count = [0, 1, 3, 10, 20, 64, 1_000, -1][rng.index(below: 8)]
                let filter = filters[rng.index(below: filters.count)]
                let expected = reference.closest(to: target, count: count, matching: filter)
                let found = table.closest(to: target, count: count, matching: filter)
                expectSame(found.map(\.id), expected, "seed \(seed) target \(target) count \(count) filter \(filter)")
                expectSame(found, expected.map { reference.entries[$0]!.record })
                table.closest(to: target, count: count, matching: filter, into: &reused)
                expectSame(reused, found)
            }
        }
    }

    /// The Mixed(32) table of the workloads (table E): every bucket full after 1,000,000 offers.
    /// Here a smaller stream fills most buckets, and every entry is verified so the defaults apply.
    @Test func prefixSharingTableFillsManyBucketsAndStaysExact() {
        let local = Workload.localKey
        var table = RoutingTable(localID: local)
        var reference = ReferenceTable(local: local, configuration: table.configuration)
        var keys = SplitMix64(seed: 0xADD)
        for index in 0..<6_000 {
            let record = Workload.record(Workload.mixedKey(32, with: local, &keys), Workload.distinctAddress(index))
            let result = table.add(record, status: .verified, now: .zero)
            expectSame(result, reference.add(record, status: .verified, now: .zero))
        }
        #expect(table.bucketOccupancy.filter { $0 == 20 }.count >= 25)
        var targets = SplitMix64(seed: 0xC105E)
        for _ in 0..<300 {
            let target = Workload.mixedKey(32, with: local, &targets)
            let expected = reference.closest(to: target, count: 10, matching: .shareable)
            #expect(table.closest(to: target, count: 10).map(\.id) == expected)
        }
    }

    @Test func resultIsSortedNearestFirstAndTheTargetItselfComesFirst() throws {
        let (table, _, _) = Self.randomTables(seed: 5, prefixBound: 32, attempts: 300)
        let stored = try #require(table.entries(matching: .shareable).first)
        let found = table.closest(to: stored.id, count: 15)
        #expect(found.first?.id == stored.id)
        let distances = found.map { $0.id.distance(to: stored.id) }
        #expect(distances == distances.sorted())
        #expect(Set(found.map(\.id)).count == found.count)
    }

    @Test func intoVariantReplacesTheBufferContents() {
        let (table, _, _) = Self.randomTables(seed: 11, prefixBound: 8, attempts: 200)
        var buffer = [Workload.record(.zero, .anyV4)]
        table.closest(to: .zero, count: 4, into: &buffer)
        #expect(buffer == table.closest(to: .zero, count: 4))
        #expect(buffer.count == 4)
        table.closest(to: .zero, count: 0, into: &buffer)
        #expect(buffer.isEmpty)
    }
}
