import KaryonsCore

/// Independent, deliberately naive re-implementations of routing-table-workloads.md, used as
/// oracles: byte arrays instead of words, a plain loop instead of masks.
enum Oracle {
    /// Four generator outputs written little-endian, as a byte array.
    static func keyBytes(_ generator: inout SplitMix64) -> [UInt8] {
        var bytes: [UInt8] = []
        for _ in 0..<4 {
            let output = generator.next()
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: output >> UInt64(shift))) }
        }
        return bytes
    }

    /// `fixed(k)` / `mixed(m)` on byte arrays.
    static func keyBytes(_ generator: inout SplitMix64, fixed prefixCount: Int?, mixed modulus: Int?, local: [UInt8]) -> [UInt8] {
        var count = prefixCount ?? 0
        if let modulus { count = Int(generator.next() % UInt64(modulus)) }
        var key = keyBytes(&generator)
        for index in 0..<count { key[index] = local[index] }
        return key
    }

    /// `31 - (index of the first differing byte)`, nil when equal.
    static func bucketIndex(local: [UInt8], key: [UInt8]) -> Int? {
        for index in 0..<32 where local[index] != key[index] { return 31 - index }
        return nil
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

/// The outcome tally of `add_entry` over a stream.
struct AddTally: Equatable, CustomStringConvertible {
    var added = 0
    var exists = 0
    var ignored = 0
    var restricted = 0
    /// Occupancy per bucket, only non-empty buckets, highest index first (as the reference prints it).
    var occupancy: [(bucket: Int, count: Int)] = []

    static func == (lhs: AddTally, rhs: AddTally) -> Bool {
        lhs.added == rhs.added && lhs.exists == rhs.exists && lhs.ignored == rhs.ignored
            && lhs.restricted == rhs.restricted
            && lhs.occupancy.map(\.bucket) == rhs.occupancy.map(\.bucket)
            && lhs.occupancy.map(\.count) == rhs.occupancy.map(\.count)
    }

    var description: String {
        "added=\(added) exists=\(exists) ignored=\(ignored) restricted=\(restricted) "
            + "[\(occupancy.map { "\($0.bucket):\($0.count)" }.joined(separator: " "))]"
    }
}

/// The reference `add_entry` of the seed (32 buckets of 20, subnet limits 1 per bucket and 6 per
/// table for /24s, loopback pairs exempt), small enough to check the workload streams against the
/// tallies measured on the Rust original. Subnet counts are kept in dictionaries instead of the
/// original's full scan; the decisions are the same.
struct ReferenceTable {
    static let bucketCount = 32
    static let bucketSize = 20
    static let subnetPerBucketMax = 1
    static let subnetPerTableMax = 6

    let local: PeerID
    private var buckets = [[PeerID]](repeating: [], count: bucketCount)
    private var subnetsPerBucket = [[UInt32: Int]](repeating: [:], count: bucketCount)
    private var subnetsPerTable: [UInt32: Int] = [:]
    private(set) var tally = AddTally()

    init(local: PeerID) { self.local = local }

    mutating func add(key: PeerID, address: UInt32) {
        guard let firstDifference = local.distance(to: key).firstNonZeroByteIndex else {
            tally.ignored += 1
            return
        }
        let bucket = 31 - firstDifference
        if buckets[bucket].contains(key) {
            tally.exists += 1
            return
        }
        let subnet = address >> 8
        let isLoopback = address >> 24 == 127  // the local address is loopback too in these runs
        if !isLoopback && (subnetsPerBucket[bucket][subnet, default: 0] >= Self.subnetPerBucketMax
            || subnetsPerTable[subnet, default: 0] >= Self.subnetPerTableMax)
        {
            tally.restricted += 1
            return
        }
        guard buckets[bucket].count < Self.bucketSize else {
            tally.ignored += 1
            return
        }
        buckets[bucket].append(key)
        if !isLoopback {
            subnetsPerBucket[bucket][subnet, default: 0] += 1
            subnetsPerTable[subnet, default: 0] += 1
        }
        tally.added += 1
    }

    var finalTally: AddTally {
        var result = tally
        result.occupancy = (0..<Self.bucketCount).reversed().compactMap { index in
            buckets[index].isEmpty ? nil : (index, buckets[index].count)
        }
        return result
    }
}
