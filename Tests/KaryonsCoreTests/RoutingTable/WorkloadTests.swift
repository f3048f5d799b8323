import Testing
@testable import KaryonsCore

/// An add workload shared with the Rust original (shared/reference/routing-table-workloads.md):
/// on inputs where no entry ever fails, our insertion rules must leave exactly the table the
/// original left, with the same result counts. W2m32 is the demanding one (every bucket fills,
/// and keys that already exist are met, so the order of the checks matters); the Benchmarks
/// package checks the other workloads' counts.
@Suite struct SharedWorkloadTests {
    struct Tally: Equatable {
        var added = 0, exists = 0, ignored = 0, restricted = 0
    }

    static func run(keys count: Int, prefixBound: Int?) -> (RoutingTable, Tally) {
        let local = Workload.localKey
        var table = RoutingTable(localID: local)
        var rng = SplitMix64(seed: 0xADD)
        var tally = Tally()
        for index in 0..<count {
            let id = prefixBound.map { Workload.mixedKey($0, with: local, &rng) } ?? Workload.key(&rng)
            switch table.add(Workload.record(id, Workload.distinctAddress(index)), now: .zero) {
            case .added: tally.added += 1
            case .exists: tally.exists += 1
            case .ignored: tally.ignored += 1
            case .restricted: tally.restricted += 1
            case .replaced: Issue.record("nothing fails in this workload, so nothing is replaced")
            }
        }
        return (table, tally)
    }

    /// W2m32: 1,000,000 `Mixed(32)` keys; the original fills all 32 buckets (table E) and meets
    /// 2,508 keys that already exist (buckets 0 and 1 have few distinct keys to offer).
    @Test func w2m32LeavesTableE() {
        let (table, tally) = Self.run(keys: 1_000_000, prefixBound: 32)
        #expect(tally == Tally(added: 640, exists: 2_508, ignored: 996_852, restricted: 0))
        #expect(table.bucketOccupancy == [Int](repeating: 20, count: 32))
        #expect(table.checkInvariants() == [])
    }
}
