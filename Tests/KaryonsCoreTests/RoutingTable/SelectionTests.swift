import Testing
@testable import KaryonsCore

@Suite struct RandomSelectionTests {
    /// Verified entries spread very unevenly over buckets (20, 10, 3, 1, 1, 1), plus entries in
    /// other statuses that must never be drawn by the dialable filter.
    static func unevenTable() -> RoutingTable {
        let local = Workload.localKey
        var table = RoutingTable(localID: local)
        var subnet = 0
        func add(_ bucketByte: Int, _ tail: Int, _ status: EntryStatus) {
            subnet += 1
            let result = table.add(
                Workload.record(key(differingAt: bucketByte, from: local, tail: UInt8(tail)), ownSubnetAddress(subnet)),
                status: status, now: ms(UInt64(subnet)))
            precondition(result == .added)
        }
        for (bucketByte, verified) in [(0, 20), (1, 10), (2, 3), (3, 1), (4, 1), (11, 1)] {
            for tail in 0..<verified { add(bucketByte, tail, .verified) }
        }
        for tail in 10..<14 { add(1, tail, .unverified) }
        for tail in 20..<22 { add(3, tail, .connected) }
        add(11, 30, .unverified)
        table.markFailed(key(differingAt: 11, from: local, tail: 30), now: ms(100))
        return table
    }

    /// Upper critical value of the chi-square distribution with `degrees` degrees of freedom at
    /// the one-sided normal quantile `z` (Wilson–Hilferty approximation, accurate to a few percent
    /// at these sizes). z = 6 puts the tail at about 1e-9.
    static func chiSquareCritical(degrees: Int, z: Double) -> Double {
        let k = Double(degrees)
        let h = 2 / (9 * k)
        let root = 1 - h + z * h.squareRoot()
        return k * root * root * root
    }

    static func chiSquare(observed: [Int], expected: [Double]) -> Double {
        zip(observed, expected).reduce(0) { sum, pair in
            let difference = Double(pair.0) - pair.1
            return sum + difference * difference / pair.1
        }
    }

    /// 100,000 draws with a fixed seed, so the outcome is deterministic. The threshold is the
    /// chi-square value a truly uniform draw exceeds with probability about 1e-9; the original's
    /// bucket-first draw on this table has an expected statistic in the hundreds of thousands.
    @Test(arguments: [EntryStatusSet.dialable, .shareable])
    func drawsAreUniformOverEntries(filter: EntryStatusSet) {
        let table = Self.unevenTable()
        let eligible = table.entries(matching: filter)
        let position = Dictionary(uniqueKeysWithValues: eligible.enumerated().map { ($0.element.id, $0.offset) })
        var rng = SplitMix64(seed: 0x5EED)
        var observed = [Int](repeating: 0, count: eligible.count)
        let draws = 100_000
        for _ in 0..<draws {
            guard let drawn = table.randomEntry(matching: filter, using: &rng), let index = position[drawn.id] else {
                Issue.record("a draw returned nothing or an entry outside \(filter)")
                return
            }
            observed[index] += 1
        }
        let uniform = [Double](repeating: Double(draws) / Double(eligible.count), count: eligible.count)
        let statistic = Self.chiSquare(observed: observed, expected: uniform)
        let critical = Self.chiSquareCritical(degrees: eligible.count - 1, z: 6)
        #expect(statistic < critical, "chi-square \(statistic) over \(eligible.count) entries, critical \(critical)")

        // Power: a bucket-first draw (the original's) would be rejected by a wide margin.
        let buckets = Dictionary(grouping: eligible, by: { table.bucketIndex(of: $0.id)! })
        let biased = eligible.map { entry in
            Double(draws) / Double(buckets.count) / Double(buckets[table.bucketIndex(of: entry.id)!]!.count)
        }
        let biasedStatistic = zip(biased, uniform).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) / $1.1 }
        #expect(biasedStatistic > 100 * critical)
    }

    @Test func drawsAreReproducibleFromTheSeed() {
        let table = Self.unevenTable()
        var first = SplitMix64(seed: 3), second = SplitMix64(seed: 3)
        let a = (0..<50).map { _ in table.randomEntry(using: &first)?.id }
        let b = (0..<50).map { _ in table.randomEntry(using: &second)?.id }
        #expect(a == b)
        #expect(Set(a).count > 10)
    }

    @Test func emptyFilterOrEmptyTableDrawsNothing() {
        var rng = SplitMix64(seed: 1)
        #expect(Self.unevenTable().randomEntry(matching: [], using: &rng) == nil)
        #expect(RoutingTable(localID: .zero).randomEntry(matching: .all, using: &rng) == nil)
    }
}

@Suite struct RefreshCandidateTests {
    @Test func leastRecentlySeenFirstUpToEightPerBucket() {
        let local = Workload.localKey
        var table = RoutingTable(localID: local)
        // Bucket 31: entry i last seen at 100 − i ms (higher i = older). Bucket 30: at 95...97 ms.
        let near = (0..<12).map { key(differingAt: 0, from: local, tail: UInt8($0)) }
        let far = (0..<3).map { key(differingAt: 1, from: local, tail: UInt8($0)) }
        for (i, id) in near.enumerated() {
            _ = table.add(Workload.record(id, ownSubnetAddress(i)), now: ms(100 - UInt64(i)))
        }
        for (j, id) in far.enumerated() {
            _ = table.add(Workload.record(id, ownSubnetAddress(50 + j)), now: ms(95 + UInt64(j)))
        }
        table.markConnected(near[11], now: ms(1))  // connected entries are not pinged, however old
        table.markFailed(near[0], now: ms(200))  // failed entries are, with their old lastSeen kept

        let candidates = table.refreshCandidates()
        #expect(Set(candidates.map(\.id)) == Set(near[3...10] + far))
        #expect(candidates.count == 11)
        let order = candidates.map { ($0.lastSeen.nanoseconds, $0.id) }
        #expect(zip(order, order.dropFirst()).allSatisfy { $0 < $1 })
        #expect(candidates.first?.id == near[10])

        let two = table.refreshCandidates(perBucketMax: 2)
        #expect(two.map(\.id) == [near[10], near[9], far[0], far[1]])
        #expect(table.refreshCandidates(perBucketMax: 0).isEmpty)

        // An answer makes an entry the most recently seen, so it leaves the oldest eight.
        table.markVerified(near[10], now: ms(300))
        #expect(Set(table.refreshCandidates().map(\.id)) == Set(near[2...9] + far))
        #expect(table.refreshCandidates(matching: .failed).map(\.id) == [near[0]])
    }
}
